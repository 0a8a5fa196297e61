// The pipeline operations behind PipelineService: create, get, list, update, delete, apply and
// validate, with validation, optimistic concurrency (etags), idempotent retries (request_id)
// and write-only secrets.
#ifndef SLIPWAY_PIPELINE_PIPELINE_MANAGER_H_
#define SLIPWAY_PIPELINE_PIPELINE_MANAGER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/random.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "slipway/v1/pipeline.pb.h"
#include "slipway/v1/pipeline_service.pb.h"
#include "storage/database.h"
#include "storage/history_repository.h"
#include "storage/pipeline_repository.h"

namespace slipway::pipeline {

// Who makes a pipeline write, recorded with the revision it creates.
struct Author {
  std::string actor;        // "token:<id>"
  std::string description;  // the token's description
  v1::RevisionSource source = v1::REVISION_SOURCE_API;
  // For a pipeline bound to a Git file: the commit the revision was synced from or written
  // back as.
  std::string git_sha = "";
};

// What a write-back of an edit made: the commit and the file's new blob.
struct WrittenBack {
  std::string sha;
  std::string blob;
  int push_attempts = 1;  // more than 1: pushes were refused and retried
};

// Where edits of pipelines bound to a Git file go before they are stored (gitops/): the edit
// is committed and pushed first, and stored only once the push went through, so Git never
// lacks what Slipway runs.
class SpecWriteBack {
 public:
  virtual ~SpecWriteBack() = default;
  // Whether `name` is bound, read in the caller's transaction.
  virtual absl::StatusOr<bool> IsBound(storage::Transaction& tx, const std::string& name) = 0;
  // Commits `spec` (as it will be stored) to the bound file, pushes it, and then runs `store`
  // (which stores the edit, calling Committed in its transaction), with syncs of the binding
  // held off meanwhile. ABORTED, naming the new commit, when the file changed in Git since it
  // was last synced: nothing is pushed or stored. Returns what `store` returns.
  virtual absl::Status WriteBackThen(
      const std::string& name, const v1::Pipeline& spec, const Author& author,
      const std::string& message, const std::function<absl::Status(const WrittenBack&)>& store) = 0;
  // In the transaction that stores the edit: the binding now stands at `written`.
  virtual absl::Status Committed(storage::Transaction& tx, const std::string& name,
                                 const WrittenBack& written) = 0;
  // In the transaction that deletes pipeline `name`: its binding goes too (the file stays).
  virtual absl::Status Unbind(storage::Transaction& tx, const std::string& name) = 0;
};

// Thread-safe. Does not own its collaborators, which must outlive it. Get serves pipelines
// from an in-memory cache filled on read and invalidated by every write made through this
// object, which is the only writer of pipelines in a slipwayd process.
class PipelineManager {
 public:
  PipelineManager(storage::Database* db, const Clock* clock, IdGenerator* ids)
      : db_(db), clock_(clock), ids_(ids) {}

  // INVALID_ARGUMENT naming the first invalid field; ALREADY_EXISTS if the name is taken.
  absl::StatusOr<v1::Pipeline> Create(const v1::CreatePipelineRequest& request,
                                      const Author& author = Author());
  // NOT_FOUND. Secrets redacted.
  absl::StatusOr<v1::Pipeline> Get(std::string_view name);
  // The same pipeline as Get, already serialized: what the GetPipeline RPC sends without
  // copying or re-encoding the message on every call.
  absl::StatusOr<std::shared_ptr<const std::string>> GetSerialized(std::string_view name);
  // INVALID_ARGUMENT for a bad page_size, page_token or name_prefix.
  absl::StatusOr<v1::ListPipelinesResponse> List(const v1::ListPipelinesRequest& request);
  // INVALID_ARGUMENT if the etag is missing or the spec invalid; NOT_FOUND; ABORTED if stale.
  absl::StatusOr<v1::Pipeline> Update(const v1::UpdatePipelineRequest& request,
                                      const Author& author = Author());
  // NOT_FOUND; ABORTED if an etag is given and stale. The history keeps a record of the deletion.
  absl::Status Delete(const v1::DeletePipelineRequest& request, const Author& author = Author());
  // Creates or updates to match the given spec; UNCHANGED when it already does. With dry_run,
  // says what it would do and writes nothing.
  absl::StatusOr<v1::ApplyPipelineResponse> Apply(const v1::ApplyPipelineRequest& request,
                                                  const Author& author = Author());
  // The pipeline's revisions, newest first, without specs. NOT_FOUND if it never existed.
  absl::StatusOr<v1::ListPipelineRevisionsResponse> ListRevisions(
      const v1::ListPipelineRevisionsRequest& request);
  // One revision with its spec, secrets redacted.
  absl::StatusOr<v1::PipelineRevision> GetRevision(const v1::GetPipelineRevisionRequest& request);
  absl::StatusOr<v1::DiffPipelineRevisionsResponse> DiffRevisions(
      const v1::DiffPipelineRevisionsRequest& request);
  // Writes nothing. Lists every problem. Redacted secrets count as set when the stored
  // pipeline of the same name has them.
  v1::ValidatePipelineResponse Validate(const v1::ValidatePipelineRequest& request);

  // Edits of bound pipelines (Update, Apply) are written back through `write_back` first.
  // Set once, before serving.
  void SetWriteBack(SpecWriteBack* write_back) { write_back_ = write_back; }
  // Stores `spec` read from the pipeline's bound Git file (its name and argument overrides
  // stay what Slipway has; redacted secrets keep their stored values), and runs `also` in the
  // same transaction. NOT_FOUND if the pipeline is gone; INVALID_ARGUMENT if the spec is
  // invalid (nothing is written, `also` does not run). The result is UNCHANGED when the
  // pipeline already matched.
  absl::StatusOr<v1::ApplyPipelineResponse> ApplyFromGit(
      v1::Pipeline spec, const Author& author, const std::string& message,
      const std::function<absl::Status(storage::Transaction&)>& also);

 private:
  // What an apply of `request` does, decided in `tx`: the stored pipeline (absent if new), the
  // spec to store (redacted secrets restored, validated), and the response's result, changed
  // paths and field changes. Writes nothing.
  struct ApplyPlan {
    std::optional<v1::Pipeline> current;
    v1::Pipeline next;
    v1::ApplyPipelineResponse response;
  };
  absl::StatusOr<ApplyPlan> PlanApply(storage::Transaction& tx,
                                      const v1::ApplyPipelineRequest& request);
  absl::StatusOr<v1::ApplyPipelineResponse> DryRunApply(const v1::ApplyPipelineRequest& request);
  // Stores an edit of `name` with `store`. When the pipeline is bound to Git and `plan` (run
  // in a read transaction) says the edit changes its spec into what it returns, the edit is
  // written back first and stored only if that went through (with the commit in the author).
  absl::Status StoreEdit(
      const std::string& name, const Author& author, const std::string& message,
      const std::function<std::optional<v1::Pipeline>(storage::Transaction&)>& plan,
      const std::function<absl::Status(const Author&, const WrittenBack*)>& store);
  // Fills uid/etag/revision/times for a pipeline about to be inserted. Its revision continues
  // the history of the name, if it had one.
  absl::Status StampNew(storage::Transaction& tx, v1::Pipeline& p);
  // Appends the revision `stored` now has (or, with `deleted`, the record of its deletion).
  absl::Status RecordRevision(storage::Transaction& tx, const v1::Pipeline& stored,
                              const Author& author, const std::string& message,
                              const std::vector<std::string>& changed, bool deleted);
  // Stamps `next` as the successor of `current`.
  void StampUpdate(const v1::Pipeline& current, v1::Pipeline& next);
  int64_t NowMs() const;
  struct CachedPipeline {
    v1::Pipeline redacted;
    std::string serialized;
  };
  absl::StatusOr<std::shared_ptr<const CachedPipeline>> Lookup(std::string_view name);
  // Gives every webhook trigger of `p` a token (new ones go into `urls`, by name) and removes
  // the tokens of triggers that are gone. Runs in the caller's write transaction.
  absl::Status SyncWebhookTokens(storage::Transaction& tx, const v1::Pipeline& p,
                                 std::map<std::string, std::string>* urls);
  // Drops `name` from the cache; called after every committed write.
  void Invalidate(const std::string& name);

  storage::Database* db_;
  const Clock* clock_;
  IdGenerator* ids_;
  storage::PipelineRepository repo_;
  storage::PipelineRevisionRepository revisions_;
  SpecWriteBack* write_back_ = nullptr;

  absl::Mutex cache_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const CachedPipeline>> cache_
      ABSL_GUARDED_BY(cache_mu_);
  // Bumped by every Invalidate, so a read that raced with a write is not cached.
  uint64_t generation_ ABSL_GUARDED_BY(cache_mu_) = 0;
};

// The spec part of a pipeline: output-only fields cleared.
v1::Pipeline SpecOf(const v1::Pipeline& p);

// Paths of what differs between two specs: "description", "stages[prod]", "+stages[qa]" (added),
// "-stages[old]" (removed).
std::vector<std::string> ChangedPaths(const v1::Pipeline& before, const v1::Pipeline& after);

// DiffSpecs of two pipelines' specs, as FieldChanges.
void AddFieldChanges(const v1::Pipeline& before, const v1::Pipeline& after,
                     google::protobuf::RepeatedPtrField<v1::FieldChange>* out);

}  // namespace slipway::pipeline

#endif  // SLIPWAY_PIPELINE_PIPELINE_MANAGER_H_
