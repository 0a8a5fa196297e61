#include "storage/request_log.h"

#include "common/random.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace slipway::storage {

absl::StatusOr<std::optional<LoggedResponse>> RequestLog::Find(Transaction& tx,
                                                               std::string_view method,
                                                               std::string_view request_id) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT fingerprint, response FROM requests "
                                         "WHERE method = ? AND request_id = ?"));
  stmt->Bind(1, method).Bind(2, request_id);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::nullopt;
  return LoggedResponse{stmt->ColumnBlob(0), stmt->ColumnBlob(1)};
}

absl::Status RequestLog::Put(Transaction& tx, std::string_view method, std::string_view request_id,
                             const LoggedResponse& response, int64_t now_ms) const {
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

absl::StatusOr<int64_t> PruneRequestLog(Database& db, const Clock& clock) {
  const int64_t before_ms = absl::ToUnixMillis(clock.Now() - kRequestIdRetention);
  int64_t pruned = 0;
  RETURN_IF_ERROR(db.Write([&](Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(pruned, RequestLog().PruneBefore(tx, before_ms));
    return absl::OkStatus();
  }));
  return pruned;
}

std::string Fingerprint(const google::protobuf::Message& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  return Sha256(bytes);
}

}  // namespace slipway::storage
