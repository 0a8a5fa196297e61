#include "storage/token_repository.h"

#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/time_format.h"
#include "storage/errors.h"

namespace slipway::storage {
namespace {

v1::Token ReadToken(const Statement& stmt) {
  v1::Token t;
  t.set_id(stmt.ColumnText(0));
  t.set_scope(static_cast<v1::Scope>(stmt.ColumnInt(1)));
  t.set_description(stmt.ColumnText(2));
  t.set_created_by(stmt.ColumnText(3));
  *t.mutable_create_time() =
      ProtoTime(ParseRfc3339(stmt.ColumnText(4)).value_or(absl::UnixEpoch()));
  if (!stmt.ColumnIsNull(5))
    *t.mutable_revoke_time() =
        ProtoTime(ParseRfc3339(stmt.ColumnText(5)).value_or(absl::UnixEpoch()));
  return t;
}

}  // namespace

absl::Status TokenRepository::Insert(Transaction& tx, const v1::Token& token,
                                     std::string_view hash) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO tokens (id, hash, scope, description, "
                                         "created_by, create_time) VALUES (?, ?, ?, ?, ?, ?)"));
  stmt->Bind(1, token.id())
      .BindBlob(2, hash)
      .Bind(3, static_cast<int64_t>(token.scope()))
      .Bind(4, token.description())
      .Bind(5, token.created_by())
      .Bind(6, FormatTimestamp(token.create_time()));
  absl::Status s = stmt->Run();
  if (absl::IsAlreadyExists(s)) return AlreadyExists("token", token.id());
  return s;
}

absl::StatusOr<v1::Token> TokenRepository::FindByHash(Transaction& tx,
                                                      std::string_view hash) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT id, scope, description, created_by, "
                                         "create_time, revoke_time FROM tokens WHERE hash = ?"));
  stmt->BindBlob(1, hash);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return absl::NotFoundError("token not found");
  return ReadToken(*stmt);
}

absl::StatusOr<v1::Token> TokenRepository::Get(Transaction& tx, std::string_view id) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT id, scope, description, created_by, "
                                         "create_time, revoke_time FROM tokens WHERE id = ?"));
  stmt->Bind(1, id);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return NotFound("token", id);
  return ReadToken(*stmt);
}

absl::StatusOr<std::vector<v1::Token>> TokenRepository::List(Transaction& tx,
                                                             bool include_revoked) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("SELECT id, scope, description, created_by, create_time, "
                              "revoke_time FROM tokens WHERE (? <> 0 OR revoke_time IS NULL) "
                              "ORDER BY rowid"));
  stmt->Bind(1, static_cast<int64_t>(include_revoked ? 1 : 0));
  std::vector<v1::Token> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    out.push_back(ReadToken(*stmt));
  }
  return out;
}

absl::StatusOr<v1::Token> TokenRepository::Revoke(Transaction& tx, std::string_view id,
                                                  std::string_view revoke_time) const {
  {
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare("UPDATE tokens SET revoke_time = ? WHERE id = ? AND "
                                           "revoke_time IS NULL"));
    stmt->Bind(1, revoke_time).Bind(2, id);
    RETURN_IF_ERROR(stmt->Run());
  }
  return Get(tx, id);
}

absl::StatusOr<int64_t> TokenRepository::CountActive(Transaction& tx) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT COUNT(*) FROM tokens WHERE revoke_time IS NULL"));
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  return row ? stmt->ColumnInt(0) : 0;
}

}  // namespace slipway::storage
