// The idempotency log: the first successful response to each (method, request_id), kept so a
// retried request returns it instead of acting again. Written in the same transaction as the
// change the request made.
#ifndef SLIPWAY_STORAGE_REQUEST_LOG_H_
#define SLIPWAY_STORAGE_REQUEST_LOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/database.h"

namespace slipway::storage {

struct LoggedResponse {
  // SHA-256 of the serialized request, to tell a retry from a reuse of the id.
  std::string fingerprint;
  // The serialized response message.
  std::string response;
};

// Stateless; every method runs inside the caller's transaction.
class RequestLog {
 public:
  absl::StatusOr<std::optional<LoggedResponse>> Find(Transaction& tx, std::string_view method,
                                                     std::string_view request_id) const;
  absl::Status Put(Transaction& tx, std::string_view method, std::string_view request_id,
                   const LoggedResponse& response, int64_t now_ms) const;
  // Deletes entries written before `before_ms`; returns how many.
  absl::StatusOr<int64_t> PruneBefore(Transaction& tx, int64_t before_ms) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_REQUEST_LOG_H_
