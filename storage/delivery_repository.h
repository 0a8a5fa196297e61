// Stored webhook deliveries, newest last by sequence; a provider's delivery id is unique among
// non-duplicate deliveries.
#ifndef SLIPWAY_STORAGE_DELIVERY_REPOSITORY_H_
#define SLIPWAY_STORAGE_DELIVERY_REPOSITORY_H_

#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "slipway/v1/delivery.pb.h"
#include "storage/database.h"

namespace slipway::storage {

// Stateless; every method runs inside the caller's transaction.
class DeliveryRepository {
 public:
  // Stores a delivery. When `claims_id` (an accepted delivery), it is the one delivery that
  // acted on its provider delivery id: ALREADY_EXISTS if another already claimed it. Rejected
  // and duplicate deliveries do not claim the id, so a fixed-up redelivery is still accepted.
  absl::Status Insert(Transaction& tx, const v1::Delivery& delivery, bool claims_id) const;
  absl::StatusOr<v1::Delivery> Get(Transaction& tx, std::string_view id) const;
  // The delivery that claimed this provider delivery id, if any.
  absl::StatusOr<std::optional<v1::Delivery>> FindOriginal(Transaction& tx, v1::Provider provider,
                                                           std::string_view delivery_id) const;
  // Newest first; `pipeline` filters on the pipelines a delivery matched (empty: all).
  absl::StatusOr<std::vector<v1::Delivery>> List(Transaction& tx, std::string_view pipeline,
                                                 int limit) const;
};

// When each schedule trigger fires next, by a key naming the trigger and its cron.
class ScheduleRepository {
 public:
  absl::StatusOr<std::optional<int64_t>> NextFire(Transaction& tx, std::string_view key) const;
  absl::Status SetNextFire(Transaction& tx, std::string_view key, int64_t next_fire_ms) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_DELIVERY_REPOSITORY_H_
