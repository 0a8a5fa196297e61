#include "storage/lease_repository.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace slipway::storage {
namespace {

absl::Status Fenced(std::string_view name, std::string_view owner, int64_t token,
                    const std::optional<Lease>& now) {
  std::string held = !now.has_value()
                         ? "nobody holds it"
                         : absl::StrCat(now->owner, " holds it under token ", now->token);
  return absl::FailedPreconditionError(absl::StrCat("fenced: lease \"", std::string(name),
                                                    "\" is no longer ", std::string(owner),
                                                    "'s under token ", token, " (", held, ")"));
}

absl::StatusOr<std::unique_ptr<Statement>> LeaseRow(Transaction& tx, std::string_view name) {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT owner, token, expire_ms, info FROM leases "
                                         "WHERE name = ?"));
  stmt->Bind(1, name);
  return stmt;
}

absl::StatusOr<std::optional<Lease>> ReadLease(std::string_view name, Statement& stmt) {
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::nullopt;
  return Lease{std::string(name), stmt.ColumnText(0), stmt.ColumnInt(1), stmt.ColumnInt(2),
               stmt.ColumnBlob(3)};
}

absl::Status HeldBy(std::string_view name, std::string_view owner, int64_t token,
                    const std::optional<Lease>& current) {
  if (current.has_value() && current->owner == owner && current->token == token) {
    return absl::OkStatus();
  }
  return Fenced(name, owner, token, current);
}

}  // namespace

absl::StatusOr<std::optional<Lease>> LeaseRepository::Get(Transaction& tx,
                                                          std::string_view name) const {
  ASSIGN_OR_RETURN(auto stmt, LeaseRow(tx, name));
  return ReadLease(name, *stmt);
}

absl::StatusOr<std::optional<Lease>> LeaseRepository::Acquire(Transaction& tx,
                                                              std::string_view name,
                                                              std::string_view owner,
                                                              int64_t now_ms, int64_t ttl_ms,
                                                              std::string_view info) const {
  ASSIGN_OR_RETURN(std::optional<Lease> current, Get(tx, name));
  if (current.has_value() && current->owner != owner && current->expire_ms > now_ms) {
    return std::nullopt;
  }
  Lease next{std::string(name), std::string(owner), current.has_value() ? current->token + 1 : 1,
             now_ms + ttl_ms, std::string(info)};
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("INSERT INTO leases (name, owner, token, expire_ms, info) VALUES "
                              "(?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET owner = "
                              "excluded.owner, token = excluded.token, expire_ms = "
                              "excluded.expire_ms, info = excluded.info"));
  stmt->Bind(1, next.name)
      .Bind(2, next.owner)
      .Bind(3, next.token)
      .Bind(4, next.expire_ms)
      .BindBlob(5, next.info);
  RETURN_IF_ERROR(stmt->Run());
  return next;
}

absl::Status LeaseRepository::Renew(Transaction& tx, std::string_view name, std::string_view owner,
                                    int64_t token, int64_t now_ms, int64_t ttl_ms,
                                    std::string_view info) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("UPDATE leases SET expire_ms = ?, info = ? WHERE name = "
                                         "? AND owner = ? AND token = ?"));
  stmt->Bind(1, now_ms + ttl_ms).BindBlob(2, info).Bind(3, name).Bind(4, owner).Bind(5, token);
  RETURN_IF_ERROR(stmt->Run());
  if (tx.Changes() == 1) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::optional<Lease> current, Get(tx, name));
  return Fenced(name, owner, token, current);
}

absl::Status LeaseRepository::Release(Transaction& tx, std::string_view name,
                                      std::string_view owner, int64_t token) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("UPDATE leases SET expire_ms = 0 WHERE name = ? AND "
                                         "owner = ? AND token = ?"));
  stmt->Bind(1, name).Bind(2, owner).Bind(3, token);
  return stmt->Run();
}

absl::Status LeaseRepository::Delete(Transaction& tx, std::string_view name, std::string_view owner,
                                     int64_t token) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("DELETE FROM leases WHERE name = ? AND owner = ? AND token = ?"));
  stmt->Bind(1, name).Bind(2, owner).Bind(3, token);
  return stmt->Run();
}

absl::StatusOr<std::function<absl::Status()>> LeaseRepository::CheckLater(Transaction& tx,
                                                                          std::string name,
                                                                          std::string owner,
                                                                          int64_t token) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Statement> stmt, LeaseRow(tx, name));
  RETURN_IF_ERROR(stmt->Prefetch());
  return [stmt, name = std::move(name), owner = std::move(owner), token]() -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<Lease> current, ReadLease(name, *stmt));
    return HeldBy(name, owner, token, current);
  };
}

absl::StatusOr<std::vector<Lease>> LeaseRepository::List(Transaction& tx,
                                                         std::string_view prefix) const {
  // A range on the key: names >= prefix and below prefix followed by the highest byte.
  std::string upper(prefix);
  upper.push_back('\x7f');
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT name, owner, token, expire_ms, info FROM leases "
                                         "WHERE name >= ? AND name < ? ORDER BY name LIMIT 10000"));
  stmt->Bind(1, prefix).Bind(2, upper);
  std::vector<Lease> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    out.push_back({stmt->ColumnText(0), stmt->ColumnText(1), stmt->ColumnInt(2), stmt->ColumnInt(3),
                   stmt->ColumnBlob(4)});
  }
  return out;
}

absl::StatusOr<int64_t> LeaseRepository::DeleteExpired(Transaction& tx, std::string_view prefix,
                                                       int64_t before_ms) const {
  std::string upper(prefix);
  upper.push_back('\x7f');
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("DELETE FROM leases WHERE name >= ? AND name < ? AND "
                                         "expire_ms < ?"));
  stmt->Bind(1, prefix).Bind(2, upper).Bind(3, before_ms);
  RETURN_IF_ERROR(stmt->Run());
  return tx.Changes();
}

}  // namespace slipway::storage
