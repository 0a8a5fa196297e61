// Pipeline revisions and the audit trail: append-only records, kept after what they describe is
// gone.
#ifndef SLIPWAY_STORAGE_HISTORY_REPOSITORY_H_
#define SLIPWAY_STORAGE_HISTORY_REPOSITORY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slipway/v1/audit_service.pb.h"
#include "slipway/v1/pipeline_service.pb.h"
#include "storage/database.h"

namespace slipway::storage {

// Stateless; every method runs inside the caller's transaction. A revision's spec is stored with
// its secrets sealed, like the pipeline itself.
class PipelineRevisionRepository {
 public:
  // ALREADY_EXISTS if the pipeline has that revision.
  absl::Status Put(Transaction& tx, const v1::PipelineRevision& revision) const;
  // With its spec. NOT_FOUND if absent.
  absl::StatusOr<v1::PipelineRevision> Get(Transaction& tx, std::string_view pipeline,
                                           int64_t revision) const;
  // Newest first, revisions below `before` (0: from the newest), at most `limit`, without specs.
  absl::StatusOr<std::vector<v1::PipelineRevision>> List(Transaction& tx, std::string_view pipeline,
                                                         int64_t before, int limit) const;
  // The pipeline's highest revision number, 0 if it has none.
  absl::StatusOr<int64_t> Latest(Transaction& tx, std::string_view pipeline) const;
};

struct AuditQuery {
  // Only records with a sequence below this (0: from the newest).
  int64_t before_sequence = 0;
  int64_t since_ms = 0;
  std::string actor;   // exact, if set
  std::string target;  // the target or anything under it ("shop" matches "shop/prod")
  std::string action;  // a prefix, if set
  int limit = 100;
};

class AuditRepository {
 public:
  // Appends `record` (its sequence is assigned here) and returns the sequence.
  absl::StatusOr<int64_t> Append(Transaction& tx, const v1::AuditRecord& record) const;
  // The same, for a write that needs the sequence only before it commits: `sequence` is called
  // with it once the write's statements are answered (Transaction::AfterAnswers), so the append
  // costs no round trip of its own.
  absl::Status AppendThen(Transaction& tx, const v1::AuditRecord& record,
                          std::function<void(int64_t)> sequence) const;
  // Newest first.
  absl::StatusOr<std::vector<v1::AuditRecord>> List(Transaction& tx, const AuditQuery& query) const;
  // Deletes records older than `before_ms`; returns how many.
  absl::StatusOr<int64_t> PruneBefore(Transaction& tx, int64_t before_ms) const;
};

// Pipelines bound to Git files (gitops/). Stateless; runs in the caller's transaction.
class GitOpsBindingRepository {
 public:
  // Inserts or replaces the binding of `binding.pipeline()`.
  absl::Status Put(Transaction& tx, const v1::GitOpsBinding& binding) const;
  // NOT_FOUND if the pipeline is not bound.
  absl::StatusOr<v1::GitOpsBinding> Get(Transaction& tx, std::string_view pipeline) const;
  // In pipeline order.
  absl::StatusOr<std::vector<v1::GitOpsBinding>> List(Transaction& tx) const;
  // True if there was one.
  absl::StatusOr<bool> Delete(Transaction& tx, std::string_view pipeline) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_HISTORY_REPOSITORY_H_
