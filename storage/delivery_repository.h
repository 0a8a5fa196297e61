// Stored webhook deliveries, newest last by sequence; a provider's delivery id is unique among
// non-duplicate deliveries.
#ifndef SLIPWAY_STORAGE_DELIVERY_REPOSITORY_H_
#define SLIPWAY_STORAGE_DELIVERY_REPOSITORY_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "slipway/v1/delivery.pb.h"
#include "storage/database.h"

namespace slipway::storage {

// How a delivery's repository is keyed for listing: "<provider number>:<full name, lower case>".
std::string DeliveryRepositoryKey(v1::Provider provider, std::string_view repository);

struct DeliveryPage {
  std::vector<v1::Delivery> deliveries;
  // Ids of stored records that could not be decoded (left out of `deliveries`).
  std::vector<std::string> undecodable;
};

struct DeliveryRetention {
  // Deliveries received before this are deleted (InfinitePast: none by age).
  absl::Time older_than = absl::InfinitePast();
  // Only the newest this many are kept (0: no bound by count).
  int64_t keep = 0;
};

// Stateless; every method runs inside the caller's transaction.
class DeliveryRepository {
 public:
  // Stores a delivery. When `claims_id` (an accepted delivery), it is the one delivery that
  // acted on its provider delivery id: ALREADY_EXISTS if another already claimed it. Rejected
  // and duplicate deliveries do not claim the id, so a fixed-up redelivery is still accepted.
  // INVALID_ARGUMENT (nothing stored) for a record that would not decode again, such as one
  // with text that is not UTF-8.
  absl::Status Insert(Transaction& tx, const v1::Delivery& delivery, bool claims_id) const;
  absl::StatusOr<v1::Delivery> Get(Transaction& tx, std::string_view id) const;
  // The delivery that claimed this provider delivery id, if any.
  absl::StatusOr<std::optional<v1::Delivery>> FindOriginal(Transaction& tx, v1::Provider provider,
                                                           std::string_view delivery_id) const;
  // The same, running `alongside` (other reads of the transaction) while the lookup is on its
  // way: they share one round trip (Statement::Prefetch).
  absl::StatusOr<std::optional<v1::Delivery>> FindOriginal(
      Transaction& tx, v1::Provider provider, std::string_view delivery_id,
      absl::FunctionRef<absl::Status()> alongside) const;
  // Newest first. With `pipeline`, those that matched it or came for one of `repositories`
  // (DeliveryRepositoryKey); empty: all. Records that cannot be decoded are skipped and named.
  absl::StatusOr<DeliveryPage> List(Transaction& tx, std::string_view pipeline,
                                    const std::vector<std::string>& repositories, int limit) const;
  // Deletes what `retention` no longer keeps; returns how many.
  absl::StatusOr<int64_t> Prune(Transaction& tx, const DeliveryRetention& retention) const;
};

// When each schedule trigger fires next, by a key naming the trigger and its cron.
class ScheduleRepository {
 public:
  absl::StatusOr<std::optional<int64_t>> NextFire(Transaction& tx, std::string_view key) const;
  absl::Status SetNextFire(Transaction& tx, std::string_view key, int64_t next_fire_ms) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_DELIVERY_REPOSITORY_H_
