#include "storage/delivery_repository.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "storage/errors.h"

namespace slipway::storage {
namespace {

absl::StatusOr<v1::Delivery> Decode(const std::string& blob) {
  v1::Delivery d;
  if (!d.ParseFromString(blob)) return absl::DataLossError("storage: delivery cannot be decoded");
  return d;
}

int64_t ReceiveMs(const v1::Delivery& d) {
  std::optional<absl::Time> t = TimeFromProto(d.receive_time());
  return t.has_value() ? absl::ToUnixMillis(*t) : 0;
}

}  // namespace

std::string DeliveryRepositoryKey(v1::Provider provider, std::string_view repository) {
  return absl::StrCat(
      static_cast<int>(provider), ":",
      absl::AsciiStrToLower(absl::string_view(repository.data(), repository.size())));
}

absl::Status DeliveryRepository::Insert(Transaction& tx, const v1::Delivery& delivery,
                                        bool claims_id) const {
  std::string blob = delivery.SerializeAsString();
  // A record that would not decode would break every later listing: refuse it here.
  if (v1::Delivery check; !check.ParseFromString(blob)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "delivery ", delivery.id(), ": a text field is not valid UTF-8; nothing stored"));
  }
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO deliveries (id, seq, provider, delivery_id, "
                                         "duplicate, spec, receive_ms, repository) "
                                         "VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM "
                                         "deliveries), ?, ?, ?, ?, ?, ?)"));
  stmt->Bind(1, delivery.id())
      .Bind(2, static_cast<int64_t>(delivery.provider()))
      .Bind(3, delivery.delivery_id())
      .Bind(4, static_cast<int64_t>(claims_id ? 0 : 1))
      .BindBlob(5, blob)
      .Bind(6, ReceiveMs(delivery))
      .Bind(7, delivery.event().repository().empty()
                   ? std::string()
                   : DeliveryRepositoryKey(delivery.provider(), delivery.event().repository()));
  return stmt->RunLater(AlreadyExists("delivery", delivery.delivery_id()));
}

absl::StatusOr<v1::Delivery> DeliveryRepository::Get(Transaction& tx, std::string_view id) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT spec FROM deliveries WHERE id = ?"));
  stmt->Bind(1, id);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return NotFound("delivery", id);
  return Decode(stmt->ColumnBlob(0));
}

absl::StatusOr<std::optional<v1::Delivery>> DeliveryRepository::FindOriginal(
    Transaction& tx, v1::Provider provider, std::string_view delivery_id) const {
  return FindOriginal(tx, provider, delivery_id, [] { return absl::OkStatus(); });
}

absl::StatusOr<std::optional<v1::Delivery>> DeliveryRepository::FindOriginal(
    Transaction& tx, v1::Provider provider, std::string_view delivery_id,
    absl::FunctionRef<absl::Status()> alongside) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT spec FROM deliveries WHERE provider = ? AND "
                                         "delivery_id = ? AND duplicate = 0"));
  stmt->Bind(1, static_cast<int64_t>(provider)).Bind(2, delivery_id);
  RETURN_IF_ERROR(stmt->Prefetch());
  RETURN_IF_ERROR(alongside());
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::nullopt;
  ASSIGN_OR_RETURN(v1::Delivery d, Decode(stmt->ColumnBlob(0)));
  return d;
}

absl::StatusOr<DeliveryPage> DeliveryRepository::List(Transaction& tx, std::string_view pipeline,
                                                      const std::vector<std::string>& repositories,
                                                      int limit) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("SELECT id, spec, repository FROM deliveries ORDER BY seq DESC"));
  DeliveryPage page;
  while (static_cast<int>(page.deliveries.size()) < limit) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    v1::Delivery d;
    if (!d.ParseFromString(stmt->ColumnBlob(1))) {
      page.undecodable.push_back(stmt->ColumnText(0));
      continue;
    }
    if (!pipeline.empty()) {
      bool any = false;
      for (const auto& m : d.matches()) any = any || m.pipeline() == pipeline;
      const std::string repository = stmt->ColumnText(2);
      for (const auto& r : repositories) any = any || (!repository.empty() && r == repository);
      if (!any) continue;
    }
    page.deliveries.push_back(std::move(d));
  }
  return page;
}

absl::StatusOr<int64_t> DeliveryRepository::Prune(Transaction& tx,
                                                  const DeliveryRetention& retention) const {
  int64_t deleted = 0;
  if (retention.older_than != absl::InfinitePast()) {
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare("DELETE FROM deliveries WHERE receive_ms < ?"));
    stmt->Bind(1, absl::ToUnixMillis(retention.older_than));
    RETURN_IF_ERROR(stmt->Run());
    deleted += tx.Changes();
  }
  if (retention.keep > 0) {
    ASSIGN_OR_RETURN(auto stmt,
                     tx.Prepare("DELETE FROM deliveries WHERE seq <= (SELECT MAX(seq) FROM "
                                "deliveries) - ?"));
    stmt->Bind(1, retention.keep);
    RETURN_IF_ERROR(stmt->Run());
    deleted += tx.Changes();
  }
  return deleted;
}

absl::StatusOr<std::optional<int64_t>> ScheduleRepository::NextFire(Transaction& tx,
                                                                    std::string_view key) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT next_fire_ms FROM schedules WHERE key = ?"));
  stmt->Bind(1, key);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::nullopt;
  return stmt->ColumnInt(0);
}

absl::Status ScheduleRepository::SetNextFire(Transaction& tx, std::string_view key,
                                             int64_t next_fire_ms) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO schedules (key, next_fire_ms) VALUES (?, ?) "
                                         "ON CONFLICT (key) DO UPDATE SET next_fire_ms = "
                                         "excluded.next_fire_ms"));
  stmt->Bind(1, key).Bind(2, next_fire_ms);
  return stmt->Run();
}

}  // namespace slipway::storage
