#include "storage/request_log.h"

#include "common/status_macros.h"

namespace slipway::storage {

absl::StatusOr<std::optional<LoggedResponse>> RequestLog::Find(
    Transaction& tx, std::string_view method, std::string_view request_id) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT fingerprint, response FROM requests "
                                         "WHERE method = ? AND request_id = ?"));
  stmt->Bind(1, method).Bind(2, request_id);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::nullopt;
  return LoggedResponse{stmt->ColumnBlob(0), stmt->ColumnBlob(1)};
}

absl::Status RequestLog::Put(Transaction& tx, std::string_view method,
                             std::string_view request_id, const LoggedResponse& response,
                             int64_t now_ms) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO requests (method, request_id, fingerprint, "
                                         "response, create_time_ms) VALUES (?, ?, ?, ?, ?)"));
  stmt->Bind(1, method)
      .Bind(2, request_id)
      .BindBlob(3, response.fingerprint)
      .BindBlob(4, response.response)
      .Bind(5, now_ms);
  return stmt->Run();
}

absl::StatusOr<int64_t> RequestLog::PruneBefore(Transaction& tx, int64_t before_ms) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("DELETE FROM requests WHERE create_time_ms < ?"));
  stmt->Bind(1, before_ms);
  RETURN_IF_ERROR(stmt->Run());
  return tx.Changes();
}

}  // namespace slipway::storage
