// Leases: who owns a piece of work until when. A lease row holds its owner, its expiry and a
// fencing token that grows by one at every acquisition, so that a holder that was paused past
// its expiry (GC pause, SIGSTOP, a partition) and lost the lease to another can be refused: its
// token is stale (Database::SetWriteFence checks it on every write). Everything rests on the row
// and on writes being serialized (database.h), not on any session state.
#ifndef SLIPWAY_STORAGE_LEASE_REPOSITORY_H_
#define SLIPWAY_STORAGE_LEASE_REPOSITORY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/database.h"

namespace slipway::storage {

struct Lease {
  std::string name;
  std::string owner;
  int64_t token = 0;
  int64_t expire_ms = 0;
  // What the owner says of itself (a serialized message), shown by listings.
  std::string info;
};

// Stateless; every method runs inside the caller's transaction. Times are milliseconds since
// the epoch on the caller's clock (replicas keep their clocks in sync, as with NTP).
class LeaseRepository {
 public:
  // Takes `name` for `owner` until now + ttl when it is free, expired, or already `owner`'s
  // (then renewed under a new token). Returns the lease taken, or nullopt while another holds
  // it unexpired.
  absl::StatusOr<std::optional<Lease>> Acquire(Transaction& tx, std::string_view name,
                                               std::string_view owner, int64_t now_ms,
                                               int64_t ttl_ms, std::string_view info) const;
  // Extends the lease held under `token`. FAILED_PRECONDITION when it is no longer that token's
  // (taken by another since): the holder has lost it.
  absl::Status Renew(Transaction& tx, std::string_view name, std::string_view owner, int64_t token,
                     int64_t now_ms, int64_t ttl_ms, std::string_view info) const;
  // Gives the lease up (it expires now), if still held under `token`.
  absl::Status Release(Transaction& tx, std::string_view name, std::string_view owner,
                       int64_t token) const;
  // Removes the lease if still held under `token` (the work it guarded is finished: a dead
  // replica's runs adopted). A holder paused meanwhile finds it gone, which fences it too.
  absl::Status Delete(Transaction& tx, std::string_view name, std::string_view owner,
                      int64_t token) const;
  // Whether `name` is held under `token` by `owner`, with the read sent ahead
  // (Statement::Prefetch): the function returned answers, when called later in the same
  // transaction (before it ends), OK while it is held and FAILED_PRECONDITION (fenced)
  // otherwise; the read rides with the transaction's next round trip.
  absl::StatusOr<std::function<absl::Status()>> CheckLater(Transaction& tx, std::string name,
                                                           std::string owner, int64_t token) const;
  absl::StatusOr<std::optional<Lease>> Get(Transaction& tx, std::string_view name) const;
  // Leases whose name starts with `prefix`, in name order.
  absl::StatusOr<std::vector<Lease>> List(Transaction& tx, std::string_view prefix) const;
  // Forgets leases that expired before `before_ms` (replicas long gone).
  absl::StatusOr<int64_t> DeleteExpired(Transaction& tx, std::string_view prefix,
                                        int64_t before_ms) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_LEASE_REPOSITORY_H_
