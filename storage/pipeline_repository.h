// Stored pipelines: one row per pipeline, the whole spec (secrets included) as a serialized
// slipway.v1.Pipeline, plus name, uid, etag and revision columns.
#ifndef SLIPWAY_STORAGE_PIPELINE_REPOSITORY_H_
#define SLIPWAY_STORAGE_PIPELINE_REPOSITORY_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  absl::Status Delete(Transaction& tx, std::string_view name, std::string_view expected_etag) const;
  // Up to `limit` pipelines whose name starts with `prefix` and sorts after `after`, in name
  // order.
  absl::StatusOr<std::vector<v1::Pipeline>> List(Transaction& tx, std::string_view prefix,
                                                 std::string_view after, int limit) const;
  // Every pipeline, in name order.
  absl::StatusOr<std::vector<v1::Pipeline>> ListAll(Transaction& tx) const;
};

// Replaces the source_bindings rows of `pipeline` with its current sources (none if it has
// none). PipelineRepository calls it on every write.
absl::Status PutSourceBindings(Transaction& tx, const v1::Pipeline& pipeline);
// The pipelines with a source of `provider` for `repository` (case-insensitive), in one
// statement; one that cannot be read is its error.
absl::StatusOr<std::vector<absl::StatusOr<v1::Pipeline>>> PipelinesBoundTo(
    Transaction& tx, int provider, std::string_view repository);

// Tokens of a pipeline's generic webhook triggers (only their SHA-256 is kept).
class WebhookTokenRepository {
 public:
  absl::Status Put(Transaction& tx, std::string_view hash, std::string_view pipeline,
                   std::string_view name) const;
  // The (pipeline, trigger name) a token hash belongs to, if any.
  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> Find(
      Transaction& tx, std::string_view hash) const;
  // Names of the pipeline's triggers that have a token.
  absl::StatusOr<std::vector<std::string>> Names(Transaction& tx, std::string_view pipeline) const;
  absl::Status Delete(Transaction& tx, std::string_view pipeline, std::string_view name) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_PIPELINE_REPOSITORY_H_
