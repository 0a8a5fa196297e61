#include "storage/delivery_repository.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/errors.h"

namespace slipway::storage {
namespace {

absl::StatusOr<v1::Delivery> Decode(const std::string& blob) {
  v1::Delivery d;
  if (!d.ParseFromString(blob)) return absl::DataLossError("storage: delivery cannot be decoded");
  return d;
}

}  // namespace

absl::Status DeliveryRepository::Insert(Transaction& tx, const v1::Delivery& delivery,
                                        bool claims_id) const {
  int64_t seq = 1;
  {
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT COALESCE(MAX(seq), 0) + 1 FROM deliveries"));
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (row) seq = stmt->ColumnInt(0);
  }
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO deliveries (id, seq, provider, delivery_id, "
                                         "duplicate, spec) VALUES (?, ?, ?, ?, ?, ?)"));
  stmt->Bind(1, delivery.id())
      .Bind(2, seq)
      .Bind(3, static_cast<int64_t>(delivery.provider()))
      .Bind(4, delivery.delivery_id())
      .Bind(5, static_cast<int64_t>(claims_id ? 0 : 1))
      .BindBlob(6, delivery.SerializeAsString());
  absl::Status s = stmt->Run();
  if (absl::IsAlreadyExists(s)) return AlreadyExists("delivery", delivery.delivery_id());
  return s;
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
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT spec FROM deliveries WHERE provider = ? AND "
                                         "delivery_id = ? AND duplicate = 0"));
  stmt->Bind(1, static_cast<int64_t>(provider)).Bind(2, delivery_id);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::nullopt;
  ASSIGN_OR_RETURN(v1::Delivery d, Decode(stmt->ColumnBlob(0)));
  return d;
}

absl::StatusOr<std::vector<v1::Delivery>> DeliveryRepository::List(Transaction& tx,
                                                                   std::string_view pipeline,
                                                                   int limit) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT spec FROM deliveries ORDER BY seq DESC"));
  std::vector<v1::Delivery> out;
  while (static_cast<int>(out.size()) < limit) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(v1::Delivery d, Decode(stmt->ColumnBlob(0)));
    if (!pipeline.empty()) {
      bool any = false;
      for (const auto& m : d.matches()) any = any || m.pipeline() == pipeline;
      if (!any) continue;
    }
    out.push_back(std::move(d));
  }
  return out;
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
