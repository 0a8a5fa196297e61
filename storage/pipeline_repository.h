// Stored pipelines: one row per pipeline, the whole spec (secrets included) as a serialized
// slipway.v1.Pipeline, plus name, uid, etag and revision columns.
#ifndef SLIPWAY_STORAGE_PIPELINE_REPOSITORY_H_
#define SLIPWAY_STORAGE_PIPELINE_REPOSITORY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slipway/v1/pipeline.pb.h"
#include "storage/database.h"

namespace slipway::storage {

// Stateless; every method runs inside the caller's transaction.
class PipelineRepository {
 public:
  // NOT_FOUND if absent.
  absl::StatusOr<v1::Pipeline> Get(Transaction& tx, std::string_view name) const;
  // ALREADY_EXISTS if the name (or uid) is taken.
  absl::Status Insert(Transaction& tx, const v1::Pipeline& pipeline) const;
  // Replaces the stored pipeline if its etag is still `expected_etag`. NOT_FOUND if absent,
  // ABORTED if the etag is stale.
  absl::Status Update(Transaction& tx, const v1::Pipeline& pipeline,
                      std::string_view expected_etag) const;
  // Deletes; if `expected_etag` is non-empty it must match (ABORTED otherwise). NOT_FOUND if
  // absent.
  absl::Status Delete(Transaction& tx, std::string_view name,
                      std::string_view expected_etag) const;
  // Up to `limit` pipelines whose name starts with `prefix` and sorts after `after`, in name
  // order.
  absl::StatusOr<std::vector<v1::Pipeline>> List(Transaction& tx, std::string_view prefix,
                                                 std::string_view after, int limit) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_PIPELINE_REPOSITORY_H_
