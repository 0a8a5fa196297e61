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
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "google/protobuf/message.h"
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

namespace slipway::storage {

// How long a request id is remembered: a retry after this long acts again.
inline constexpr absl::Duration kRequestIdRetention = absl::Hours(24);

// The maintenance step: deletes idempotency records older than kRequestIdRetention as of
// `clock.Now()`. Returns how many were deleted.
absl::StatusOr<int64_t> PruneRequestLog(Database& db, const Clock& clock);

// SHA-256 of the deterministic serialization of `request`.
std::string Fingerprint(const google::protobuf::Message& request);

// Runs `fn(tx)` in one write transaction and, when `request_id` is non-empty, records its
// response in the same transaction. A later call with the same method and request_id returns the
// recorded response without calling `fn`; the same id with a different request is
// INVALID_ARGUMENT. Errors from `fn` are returned and nothing is recorded or written.
// `Response` is a protobuf message type; `fn` returns absl::StatusOr<Response>.
template <typename Response, typename Fn>
absl::StatusOr<Response> WriteOnce(Database& db, std::string_view method,
                                   std::string_view request_id,
                                   const google::protobuf::Message& request, int64_t now_ms,
                                   Fn fn) {
  Response result;
  absl::Status s = db.Write([&](Transaction& tx) -> absl::Status {
    RequestLog log;
    std::string fingerprint;
    if (!request_id.empty()) {
      fingerprint = Fingerprint(request);
      auto found = log.Find(tx, method, request_id);
      if (!found.ok()) return found.status();
      if (found->has_value()) {
        if ((*found)->fingerprint != fingerprint) {
          return absl::InvalidArgumentError(absl::StrCat(
              "request_id: \"", std::string(request_id),
              "\" was already used for a different request; use a new id for a new request"));
        }
        if (!result.ParseFromString((*found)->response)) {
          return absl::DataLossError("storage: logged response cannot be decoded");
        }
        return absl::OkStatus();
      }
    }
    absl::StatusOr<Response> r = fn(tx);
    if (!r.ok()) return r.status();
    result = *std::move(r);
    if (request_id.empty()) return absl::OkStatus();
    return log.Put(tx, method, request_id, {fingerprint, result.SerializeAsString()}, now_ms);
  });
  if (!s.ok()) return s;
  return result;
}

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_REQUEST_LOG_H_
