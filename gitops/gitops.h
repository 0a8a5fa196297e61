// Pipelines kept in a Git file, both ways. A binding names a source of the pipeline (with a
// clone URL), a branch and a path. A push that changes the file applies it, all or nothing (an
// invalid file changes nothing and is reported with every problem; a deleted file pauses the
// binding). An edit through the API is committed to the branch and pushed before it is stored,
// and only if the file is still at the blob it was last synced from: a file changed in Git
// refuses the edit with ABORTED naming the new commit; a branch that moved elsewhere gets the
// commit on top of its new head. Rejected pushes are retried with backoff. Secret values and
// argument overrides stay in Slipway: the file holds references only.
#ifndef SLIPWAY_GITOPS_GITOPS_H_
#define SLIPWAY_GITOPS_GITOPS_H_

#include <functional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gitops/git_files.h"
#include "pipeline/pipeline_manager.h"
#include "slipway/v1/pipeline_service.pb.h"
#include "storage/audit_log.h"
#include "storage/database.h"
#include "storage/history_repository.h"
#include "trigger/intake.h"

namespace slipway::gitops {

struct GitOpsOptions {
  // Push attempts of one write-back, and the wait before the second (doubling after).
  int push_attempts = 4;
  absl::Duration first_backoff = absl::Milliseconds(100);
};

// Thread-safe: syncs and write-backs run one at a time. Does not own its collaborators.
class GitOps final : public pipeline::SpecWriteBack, public trigger::PushHook {
 public:
  // `audit` may be null.
  GitOps(storage::Database* db, pipeline::PipelineManager* pipelines, GitFiles* git,
         const Clock* clock, storage::AuditLog* audit, GitOpsOptions options = {});

  // Binds and syncs at once (see EnableGitOps in pipeline_service.proto). INVALID_ARGUMENT
  // naming the field; NOT_FOUND for an unknown pipeline; FAILED_PRECONDITION when the source
  // has no clone URL or the branch does not exist; UNAVAILABLE when the repository cannot be
  // reached (nothing is bound then).
  absl::StatusOr<v1::GitOpsBinding> Enable(const v1::EnableGitOpsRequest& request,
                                           const pipeline::Author& author);
  absl::Status Disable(const v1::DisableGitOpsRequest& request);
  absl::StatusOr<v1::GitOpsBinding> Get(const std::string& pipeline);
  // Syncs every binding with its branch's head. Run at start: an edit pushed just before a
  // crash, and not stored, is then taken from Git, so Git and Slipway agree again.
  void SyncAll();

  // trigger::PushHook: a push to a bound branch whose changed files include the path (or that
  // lists no files) syncs the binding to the pushed commit.
  trigger::PushOutcome OnPush(const v1::Pipeline& pipeline, const v1::Source& source,
                              const v1::SourceEvent& event) override;

  // pipeline::SpecWriteBack.
  absl::StatusOr<bool> IsBound(storage::Transaction& tx, const std::string& name) override;
  absl::Status WriteBackThen(
      const std::string& name, const v1::Pipeline& spec, const pipeline::Author& author,
      const std::string& message,
      const std::function<absl::Status(const pipeline::WrittenBack&)>& store) override;
  absl::Status Committed(storage::Transaction& tx, const std::string& name,
                         const pipeline::WrittenBack& written) override;
  absl::Status Unbind(storage::Transaction& tx, const std::string& name) override;

 private:
  // Brings `binding` to commit `sha` of `url` (fetched) and stores where it stands. Returns
  // the note for a delivery.
  trigger::PushOutcome SyncTo(v1::GitOpsBinding binding, const std::string& url,
                              const std::string& sha) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores a binding that did not sync (failed or paused), with an audit record.
  trigger::PushOutcome Report(v1::GitOpsBinding binding, v1::GitOpsState state,
                              const std::string& sha, std::string status,
                              std::vector<std::string> errors) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The binding of `name` and the clone URL of its source in the stored pipeline.
  absl::Status Load(const std::string& name, v1::GitOpsBinding& binding, std::string& url);
  // `binding` synced from (or written back as) commit `sha` with the file at `blob`.
  void MarkSynced(v1::GitOpsBinding& binding, const std::string& sha,
                  const std::string& blob) const;
  // The same for an edit written back, noting pushes that had to be retried.
  void MarkWrittenBack(v1::GitOpsBinding& binding, const pipeline::WrittenBack& written) const;
  void Audit(const std::string& action, const v1::GitOpsBinding& binding,
             const absl::Status& outcome);

  storage::Database* db_;
  pipeline::PipelineManager* pipelines_;
  GitFiles* git_;
  const Clock* clock_;
  storage::AuditLog* audit_;
  const GitOpsOptions options_;
  storage::GitOpsBindingRepository bindings_;
  absl::Mutex mu_;

  // Names that may be bound (a superset of the bindings), so that a push to a pipeline that is
  // not kept in Git costs no read of the store. Filled from the store on first use.
  bool MaybeBound(const std::string& name);
  void NoteBound(const std::string& name, bool bound);
  absl::Mutex names_mu_;
  bool names_loaded_ ABSL_GUARDED_BY(names_mu_) = false;
  absl::flat_hash_set<std::string> names_ ABSL_GUARDED_BY(names_mu_);
};

// The file a write-back commits for `spec`: its spec without output-only fields, argument
// overrides or secret values (references stay; a stored value is written as `redacted: true`),
// named `file_name` (the name the file had, so several pipelines can share it).
std::string RenderPipelineFile(const v1::Pipeline& spec, const std::string& file_name);

}  // namespace slipway::gitops

#endif  // SLIPWAY_GITOPS_GITOPS_H_
