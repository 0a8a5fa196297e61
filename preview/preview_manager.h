// Preview environments: one per (blueprint, pull request or branch). Git events and the API
// change what a preview should be (its commit, alive or not); a step function (Tick) brings
// each preview there through runs of the executor (create and update: deploy every resource,
// wait for health, then the blueprint's flow; teardown: the teardown flow) and the drivers
// (removing resources). Every state is stored before it is acted on, so a restarted controller
// carries on where it stopped: a preview being created converges to READY, one being torn
// down is torn down.
//
// Names are DNS labels, deterministic per pull request or branch (preview/naming.h) and unique
// among live previews. Every resource a preview deploys is recorded (the stage resources of
// stage "preview:<name>"), and every recorded resource is removed by its teardown; a resource
// dropped from the blueprint is removed by the next update.
#ifndef SLIPWAY_PREVIEW_PREVIEW_MANAGER_H_
#define SLIPWAY_PREVIEW_PREVIEW_MANAGER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/random.h"
#include "deploy/driver.h"
#include "preview/live_previews.h"
#include "preview/matching.h"
#include "release/executor.h"
#include "slipway/v1/delivery.pb.h"
#include "slipway/v1/pipeline.pb.h"
#include "slipway/v1/preview.pb.h"
#include "storage/audit_log.h"
#include "storage/database.h"

namespace slipway::preview {

// What is known of a preview's pull request or branch on its Git host. Reconcile deletes a
// preview only when this says "closed" or "gone"; nullopt (unknown, host unreachable) never
// deletes anything.
class SubjectStates {
 public:
  virtual ~SubjectStates() = default;
  virtual std::optional<bool> StillOpen(const v1::Preview& preview) = 0;
};

// What deliveries last said (stored by HandleEvent): a PR closed or merged, a branch deleted.
class RecordedSubjectStates final : public SubjectStates {
 public:
  explicit RecordedSubjectStates(storage::Database* db) : db_(db) {}
  std::optional<bool> StillOpen(const v1::Preview& preview) override;

 private:
  storage::Database* db_;
};

struct PreviewDeps {
  storage::Database* db = nullptr;
  const Clock* clock = nullptr;
  IdGenerator* ids = nullptr;
  release::Executor* executor = nullptr;
  deploy::DriverRegistry drivers;
  deploy::TaskRunner* tasks = nullptr;
  // For reconcile; may be null (reconcile then finds nothing to delete).
  SubjectStates* subjects = nullptr;
  // Called after a preview's state changed in the store (a new preview: from UNSPECIFIED), with
  // the manager's lock held: it must not call back. May be empty.
  std::function<void(v1::PreviewState from, v1::PreviewState to)> on_transition;
  // Where slipwayd's own actions on previews (expiry by lifetime) are recorded; may be null.
  storage::AuditLog* audit = nullptr;
};

struct PreviewOptions {
  // Reconcile refuses to delete more than this share of the live previews at once.
  double reconcile_max_share = 0.5;
  // A failed resource teardown is tried again after this.
  absl::Duration teardown_retry = absl::Seconds(5);
  // How often a service's health is checked while a preview is being created.
  absl::Duration health_interval = absl::Milliseconds(200);
  // How long a service may take to become healthy.
  absl::Duration health_timeout = absl::Seconds(120);
  // Other processes (replicas on PostgreSQL) change previews too: every call reads the live
  // previews from the store again before it acts, instead of trusting what it holds.
  bool shared_store = false;
};

struct ReconcileReport {
  int live = 0;
  int unknown = 0;     // subject state not known: left alone
  int candidates = 0;  // closed or gone
  int deleted = 0;     // teardown started
  int orphaned = 0;    // torn down because their pipeline or blueprint is gone
  bool refused = false;
  std::string message;
};

// Thread-safe.
class PreviewManager {
 public:
  PreviewManager(PreviewDeps deps, PreviewOptions options = {});

  // Loads the live previews. Call once, before anything else.
  absl::Status Load();

  // A trusted Git event of a repository that `pipeline`'s source `source` binds: creates,
  // updates or tears down the previews of every blueprint it concerns and records what it
  // says of its pull request or branch. Returns a match per blueprint acted on (or skipped,
  // with the reason). Everything is committed when it returns.
  std::vector<v1::DeliveryMatch> HandleEvent(const v1::Pipeline& pipeline, const v1::Source& source,
                                             const v1::SourceEvent& event,
                                             const std::string& actor);

  // A preview of `branch` (as a push to it would create). `blueprint` may be empty when the
  // pipeline has exactly one. NOT_FOUND for an unknown blueprint; RESOURCE_EXHAUSTED when the
  // budget is full and its policy is reject.
  absl::StatusOr<v1::Preview> Create(const v1::Pipeline& pipeline, const std::string& blueprint,
                                     const std::string& branch, const std::string& sha,
                                     const std::map<std::string, std::string>& args,
                                     const std::string& actor);
  // Starts the teardown: the teardown flow (unless skip_teardown), then every resource.
  absl::StatusOr<v1::Preview> Delete(const std::string& name, bool skip_teardown,
                                     const std::string& actor);
  absl::StatusOr<v1::Preview> Extend(const std::string& name, absl::Duration by);
  absl::StatusOr<v1::Preview> Pause(const std::string& name, const std::string& actor);
  absl::StatusOr<v1::Preview> Resume(const std::string& name, const std::string& actor);
  absl::StatusOr<v1::Preview> Get(const std::string& name);
  absl::StatusOr<std::vector<v1::Preview>> List(const std::string& pipeline, bool include_deleted);

  // Does everything due now: starts runs, notices ended ones, expires previews, starts and
  // finishes teardowns. Returns the first store error (the work is retried next time).
  absl::Status Tick();

  // Tears down previews whose pipeline or blueprint no longer exists. Then compares the live
  // previews with what is known of their pull requests and branches and tears down those
  // closed or gone, unless that is more than reconcile_max_share of them.
  ReconcileReport Reconcile();

  // Wakes WaitForWork (a run ended, a task finished).
  void Notify();
  void WaitForWork(absl::Duration timeout);
  // When Tick next has timed work (an expiry, a teardown retry), if ever.
  std::optional<absl::Time> NextWake();
  int LiveCount();
  // Live previews by state, keyed by the state's short name ("ready", "tearing_down").
  std::map<std::string, int> CountByState();

 private:
  // Why a preview's resources are removed: dropped from the blueprint (during an update),
  // stopped (pause), or the whole preview torn down.
  enum class Removal { kDropped, kStop, kTeardown };
  struct TaskDone {
    std::string uid;
    Removal kind;
    std::vector<std::string> removed;
    absl::Status status;
  };
  enum class Outcome { kCreated, kUpdated, kUnchanged, kQueued };

  // Creates or updates the preview of `key`. Needs mu_.
  absl::StatusOr<std::pair<v1::Preview, Outcome>> Upsert(
      const v1::Pipeline& pipeline, const v1::PreviewBlueprint& blueprint, const std::string& key,
      const v1::PreviewSubject& subject, const std::map<std::string, std::string>& args,
      const std::string& actor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks `p` for teardown (and stores it). Needs mu_.
  absl::Status BeginTeardown(v1::Preview& p, const std::string& why, const std::string& actor,
                             bool skip_flow) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Save(const v1::Preview& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Live previews of the blueprint that hold resources (count against the budget), oldest
  // first. In budget.cc.
  std::vector<const v1::Preview*> Occupying(const std::string& pipeline,
                                            const std::string& blueprint)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Step(v1::Preview& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StartRun(v1::Preview& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels every run of the preview in the executor's hands but `keep`; true while any is.
  bool StopRuns(const v1::Preview& p, const std::string& keep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StartTeardownRun(v1::Preview& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Posts the removal of the preview's resources named in `names` (all recorded ones and the
  // blueprint's when empty).
  void PostRemoval(const v1::Preview& p, Removal kind, const std::vector<std::string>& names)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyTaskDone(TaskDone& done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::optional<v1::Run>> RunOf(const std::string& run_id);
  // The preview's pipeline as stored now; nullopt if it was deleted.
  absl::StatusOr<std::optional<v1::Pipeline>> PipelineOf(const v1::Preview& p);
  // A copy of the live preview `name`; NOT_FOUND if there is none.
  absl::StatusOr<v1::Preview> LiveCopy(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Load() when the store is shared with other processes; OK otherwise.
  absl::Status Refresh();
  google::protobuf::Timestamp Now() const;
  static std::string StageOf(const v1::Preview& p) { return "preview:" + p.name(); }

  PreviewDeps deps_;
  PreviewOptions options_;

  absl::Mutex mu_;
  // Live previews, indexed, with the set of those that have work.
  LivePreviews live_ ABSL_GUARDED_BY(mu_);
  // Previews with a driver task in flight.
  std::set<std::string> busy_ ABSL_GUARDED_BY(mu_);

  absl::Mutex work_mu_;
  bool work_ ABSL_GUARDED_BY(work_mu_) = false;
  std::vector<TaskDone> done_ ABSL_GUARDED_BY(work_mu_);
};

}  // namespace slipway::preview

#endif  // SLIPWAY_PREVIEW_PREVIEW_MANAGER_H_
