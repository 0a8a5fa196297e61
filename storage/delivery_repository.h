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
  // ALREADY_EXISTS if a non-duplicate delivery with the same provider and delivery id exists.
  absl::Status Insert(Transaction& tx, const v1::Delivery& delivery) const;
  absl::StatusOr<v1::Delivery> Get(Transaction& tx, std::string_view id) const;
  // The first (non-duplicate) delivery with this provider delivery id.
  absl::StatusOr<std::optional<v1::Delivery>> FindOriginal(Transaction& tx, v1::Provider provider,
                                                           std::string_view delivery_id) const;
  // Newest first; `pipeline` filters on the pipelines a delivery matched (empty: all).
  absl::StatusOr<std::vector<v1::Delivery>> List(Transaction& tx, std::string_view pipeline,
                                                 int limit) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_DELIVERY_REPOSITORY_H_
