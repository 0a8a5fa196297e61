// The run executor: owns every run that has not ended, applies the stage's concurrency policy,
// walks each run's flow (sequential and parallel, nested), starts nodes through their node kinds
// on background tasks, applies timeouts, retries and approvals, and records a release when a
// run succeeds. Every state change is committed to the store before it is announced, so a
// restarted controller resumes each unfinished run (Recover).
//
// Background work is a step function: Tick() does everything that is due at the clock's now
// and returns; a thin thread drives it in production (ExecutorThread in server/background.h),
// tests call it directly after advancing a FakeClock.
//
// Its parts, one file each (docs/adr/0007-executor-structure.md):
//   executor.cc         the active set, its indexes and timers, Tick, Commit, cancel, approve
//   run_start.cc        Start/StartAll: checks, request ids, admission, the first write
//   admission.{h,cc}    the concurrency policy as a pure function
//   flow_walk.cc        advancing a run's flow, starting nodes, attempts and retries
//   nodes/              one node kind per file (what a step does when an attempt starts)
//   run_journal.{h,cc}  the changes not yet committed, and how a batch is written
//   recording.{h,cc}    the release and hold an ended run records
//   run_commands.cc     cancels and approvals passed on to the replica that executes a run
#ifndef SLIPWAY_RELEASE_EXECUTOR_H_
#define SLIPWAY_RELEASE_EXECUTOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/random.h"
#include "deploy/driver.h"
#include "release/admission.h"
#include "release/nodes/node_kind.h"
#include "release/run_journal.h"
#include "slipway/v1/pipeline.pb.h"
#include "slipway/v1/release.pb.h"
#include "storage/database.h"
#include "storage/run_command_repository.h"
#include "storage/run_repository.h"

namespace slipway::release {

// What the executor needs from the outside world. Not owned; must outlive the executor.
// What one successful commit wrote, for metrics.
struct CommitReport {
  const std::map<std::string, v1::Run>* runs = nullptr;  // the run records, as committed
  const std::vector<v1::Release>* releases = nullptr;    // releases recorded
  size_t events = 0;                                     // run events written
  double seconds = 0;      // how long the write took, by the injected clock
  size_t active_runs = 0;  // runs the executor holds after it
};

struct ExecutorDeps {
  storage::Database* db = nullptr;
  const Clock* clock = nullptr;
  IdGenerator* ids = nullptr;
  deploy::DriverRegistry drivers;
  deploy::HttpClient* http = nullptr;
  deploy::TaskRunner* tasks = nullptr;
  // Called (with the executor's lock held: it must not call back) after a commit that ended
  // runs. Optional.
  std::function<void()> on_run_ended;
  // Called (with the executor's lock held: it must not call back) after every commit that
  // wrote something. Optional.
  std::function<void(const CommitReport&)> on_commit;
  // What each kind of step does (release/nodes/). Empty: BuiltinNodeKinds().
  NodeKinds node_kinds;
  // This process's replica id when several share the store (server/replica_set.h): the runs it
  // starts are its own, and Recover loads none (a dead replica's runs come through Adopt).
  // Empty: the only process, which owns every run.
  std::string replica;
  // With replicas: how long a cancel or approval of another replica's run waits for that
  // replica to apply it (release/run_commands.cc) before answering UNAVAILABLE.
  absl::Duration forward_timeout = absl::Seconds(10);
  // Tests only: called when Adopt or PickUp has read the store and not yet taken the lock, so
  // that a test can make the active set change in between.
  std::function<void()> after_load_read;
};

struct StartRequest {
  v1::Pipeline pipeline;  // as stored, at the revision to run
  std::string stage;
  std::map<std::string, std::string> args;
  v1::TriggerInfo trigger;
  v1::RunKind kind = v1::RUN_KIND_RELEASE;
  // Start although the stage is held; lifts the hold in the same transaction.
  bool override_hold = false;
  // The stage's hold (or none) as the caller just read it from the store, which spares the
  // start a read of its own. Unset: the start reads it.
  std::optional<std::optional<v1::StageHold>> hold;
  // For rollbacks: the stage to run (resources from the snapshot, a flow of deploys) instead
  // of the pipeline's, and the release it re-applies. A rollback that succeeds holds the stage
  // with trigger.reason as the hold's reason.
  std::optional<v1::Stage> stage_spec;
  int64_t rollback_to = 0;
  std::optional<v1::ConcurrencyPolicy> policy;
  // For preview runs (kinds PREVIEW and PREVIEW_TEARDOWN): the preview's name.
  std::string preview;
  // How the request id is logged: under this method, with the fingerprint of the API request
  // that asked for the run (empty for internal callers, whose ids name what they start), and
  // with `request_extra`, which a retry gets back besides the run (a rollback's target and diff).
  std::string request_method = "StartRun";
  std::string request_fingerprint;
  std::string request_extra;
};

// What a run's expressions may read before its flow starts (an argument's default): the
// trigger's fields, "stage.name" and "pipeline.name".
std::map<std::string, std::string> StartValues(const v1::TriggerInfo& trigger,
                                               const std::string& stage,
                                               const std::string& pipeline);

// The run's arguments: `given` (the run's own) over the pipeline's overrides over the declared
// defaults (evaluated with `values`). Secret arguments go to `*secret`, the others to `*args`.
// INVALID_ARGUMENT naming a required argument nobody gave.
absl::Status ResolveArguments(const v1::Pipeline& pipeline,
                              const std::map<std::string, std::string>& given,
                              const std::map<std::string, std::string>& values,
                              std::map<std::string, std::string>* args,
                              std::map<std::string, std::string>* secret);

// A request id found in the request log: the run it started and the extra it was logged with.
struct LoggedStart {
  v1::Run run;
  std::string extra;
};

// Thread-safe.
class Executor {
 public:
  explicit Executor(ExecutorDeps deps);
  ~Executor();

  // Loads every unfinished run from the store. Nodes that were running when the controller
  // stopped are started again if they are idempotent (deploy, promote, await_condition, sleep,
  // approval); the others (run_job, http_request, message) count as a failed attempt with an
  // unknown outcome and follow their retry policy. Call once, before Tick.
  absl::Status Recover();

  // Takes over the unfinished runs of replica `from`, whose lease this process has just taken
  // (so `from` can no longer write): each is marked as this replica's and resumed as Recover
  // resumes runs. A run with a resource of a machine-local driver (Driver::shared() false) fails
  // as unavailable instead. Returns how many runs were taken over.
  absl::StatusOr<int> Adopt(const std::string& from);

  // Loads the runs other replicas handed over to this one: a run of a stage whose policy is not
  // allow, started on another replica while this one executed the stage's other runs, is
  // queued here behind them; then applies the cancels and approvals other replicas passed on
  // for runs executed here. Call periodically. Returns how many runs were picked up.
  absl::StatusOr<int> PickUp();

  // Checks the flow in full (every expression, argument and node-output read), applies the
  // stage's concurrency policy and stores the new run. INVALID_ARGUMENT if the check fails
  // (nothing is stored); NOT_FOUND for an unknown stage; FAILED_PRECONDITION for policy
  // `forbid` with an active run (naming it), or for a held stage without override_hold.
  // `request_id`, when set, is looked up and recorded in the request log inside the transaction
  // that creates the run: a later or concurrent Start with the same method and id returns the
  // first run (and, in `extra`, what it was logged with); the same id with another fingerprint
  // is INVALID_ARGUMENT.
  absl::StatusOr<v1::Run> Start(const StartRequest& request, const std::string& request_id,
                                std::string* extra = nullptr);

  // The run an earlier Start with this method and request id created, if any.
  // INVALID_ARGUMENT if it was logged with another fingerprint.
  absl::StatusOr<std::optional<LoggedStart>> FindLogged(const std::string& method,
                                                        const std::string& request_id,
                                                        const std::string& fingerprint);

  // Starts several runs (each with its request id) and writes them, with whatever `also`
  // writes, in one transaction; `also` sees each run or the error that kept it from starting.
  // The write is repeatable (storage::Database::WriteOptions): `also` may run more than once,
  // and must only write through the transaction and set what it hands back.
  // A run that could not start does not stop the others. If the transaction fails, nothing is
  // stored and every run that was to start fails with `committed`.
  struct StartAllResult {
    absl::Status committed;
    std::vector<absl::StatusOr<v1::Run>> runs;  // one per request, in order
    // What each request id was logged with (StartRequest::request_extra), in order.
    std::vector<std::string> extras;
  };
  StartAllResult StartAll(
      const std::vector<std::pair<StartRequest, std::string>>& requests,
      const std::function<absl::Status(storage::Transaction&,
                                       const std::vector<absl::StatusOr<v1::Run>>&)>& also);

  // Requests cancellation. FAILED_PRECONDITION if the run has ended; NOT_FOUND if unknown.
  // With replicas, a run another replica executes is cancelled there: the call is passed on
  // through the store and answered when that replica has applied it (UNAVAILABLE if it has not
  // within forward_timeout: nothing was changed). The same holds for Approve.
  absl::StatusOr<v1::Run> Cancel(const std::string& run_id, const std::string& by,
                                 const std::string& reason);

  // Records an approval (or rejection) of the approval node `ref`. PERMISSION_DENIED for the
  // run's initiator; FAILED_PRECONDITION if the node is not waiting for approval.
  absl::StatusOr<v1::Run> Approve(const std::string& run_id, const std::string& ref,
                                  const std::string& by, const std::string& comment, bool reject);

  // Does everything due now: collects finished tasks, wakes sleeping and retrying nodes, applies
  // timeouts, starts ready nodes and queued runs, finishes runs, and commits all changes in one
  // transaction. Returns that transaction's error, if any (the changes are retried next Tick).
  absl::Status Tick();

  // When Tick next has timed work to do, if ever (nullopt: only new events can wake it).
  std::optional<absl::Time> NextWake();

  // Blocks until `run_id` has an event after `after`, the run has ended, or `timeout` passes.
  // Returns true if there may be new events.
  bool WaitForEvents(const std::string& run_id, int64_t after, absl::Duration timeout);

  // Blocks until something happened that Tick should handle (a task finished, a run was
  // started, cancelled or approved) or `timeout` passed.
  void WaitForWork(absl::Duration timeout);

  // Number of runs that have not ended.
  int ActiveRuns();

  // Ids of the runs of pipeline/stage still in the executor's hands: not ended, or ended with
  // driver work still in flight (whose effects are not all recorded yet).
  std::vector<std::string> RunsInProgress(const std::string& pipeline, const std::string& stage);

 private:
  struct Completion;
  struct ActiveRun;
  struct PendingStart;

  // Checks a start, applies the concurrency policy and adds the run to the active set, marked
  // as starting: nothing advances or writes it until StartAll has committed its first state.
  absl::StatusOr<PendingStart> Prepare(const StartRequest& request, const std::string& request_id);
  // Loads the unfinished runs of replica `from` (every one when this process is the only one)
  // into the active set; `why` says why their running nodes stopped. `pickup`: runs another
  // replica handed over to this one (`from` is this replica).
  absl::Status Load(const std::string& from, const std::string& why, bool pickup = false);
  // With replicas, for a stage whose policy is not allow: when the stage has unfinished runs of
  // another replica, this run is queued on that replica (PendingStart::handed_over) or, for
  // forbid, refused (PendingStart::reused). Runs inside the start's write transaction; returns
  // the store's errors.
  absl::Status HandOver(storage::Transaction& tx, PendingStart& p);
  // Applies the stage's policy to a run another replica handed over, now that it is here.
  void AdmitPickedUp(ActiveRun& picked) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What a new run's admission does to the stage's other runs: skips and cancellations.
  void ApplyToOthers(const Admission& admission) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The resources of the run's stage whose driver keeps them on one machine, named; empty if
  // none.
  std::string MachineLocalResources(const v1::Run& run) const;
  // The error for a call about a run another replica executes.
  absl::Status RemoteRun(const v1::Run& stored) const;
  // Cancel and Approve on this replica. When another replica executes the run, nothing is done
  // and `*remote` names it.
  absl::StatusOr<v1::Run> CancelHere(const std::string& run_id, const std::string& by,
                                     const std::string& reason, std::string* remote);
  absl::StatusOr<v1::Run> ApproveHere(const std::string& run_id, const std::string& ref,
                                      const std::string& by, const std::string& comment,
                                      bool reject, std::string* remote);
  // Passes a call on to `replica`, which executes the run, through the store, and waits for its
  // answer (release/run_commands.cc).
  absl::StatusOr<v1::Run> Forward(const storage::RunCommand& command, const std::string& replica);
  // Applies and answers the calls other replicas passed on for runs executed here.
  absl::Status ServeForwarded();
  // The run `run_id` as it stands: from memory if active, else from the store.
  absl::StatusOr<v1::Run> CurrentRun(const std::string& run_id);

  // Starts an attempt of `node` through its node kind (flow_walk.cc). Whatever happens is
  // recorded in the node: it fails, waits, or runs work posted after the next commit.
  void StartNode(ActiveRun& ar, v1::NodeStatus& node, const v1::Step& step)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Walks a group; returns its state: SUCCEEDED, FAILED, or RUNNING (still going).
  v1::NodeState AdvanceGroup(ActiveRun& ar, const v1::Steps& steps, const std::string& path,
                             bool parallel) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::NodeState AdvanceStep(ActiveRun& ar, const v1::Step& step, const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdvanceRun(ActiveRun& ar) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyCompletion(Completion& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailAttempt(ActiveRun& ar, v1::NodeStatus& node, const v1::Step& step,
                   const std::string& error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishRun(ActiveRun& ar, v1::RunState state, const std::string& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the oldest queued run of each stage in promote_stages_ that has nothing else going.
  void PromoteQueued() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds a run to the active set and its stage's index; removes one with its index entry, its
  // timer and its ready mark. EraseActive returns the next iterator.
  void AddActive(std::unique_ptr<ActiveRun> ar) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::map<std::string, std::unique_ptr<ActiveRun>>::iterator EraseActive(
      std::map<std::string, std::unique_ptr<ActiveRun>>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the ended runs whose end is written and that have no task in flight.
  void DropEndedRuns() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Recomputes when `ar` next has timed work: a WAITING node's wake time or a RUNNING node's
  // deadline, whichever is first.
  void UpdateTimer(ActiveRun& ar) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Emit(ActiveRun& ar, const v1::NodeStatus* node, const std::string& log = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes every pending change in one transaction (plus `extra`, if given), then posts the
  // tasks of nodes that started.
  absl::Status Commit(const std::function<absl::Status(storage::Transaction&)>& extra = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::map<std::string, std::string> Values(const ActiveRun& ar) const;
  // The stage's hold, if any.
  absl::StatusOr<std::optional<v1::StageHold>> HoldOf(const std::string& pipeline,
                                                      const std::string& stage);
  google::protobuf::Timestamp Now() const;

  ExecutorDeps deps_;
  storage::RunRepository runs_repo_;
  storage::RunCommandRepository commands_;

  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<ActiveRun>> active_ ABSL_GUARDED_BY(mu_);
  // "<method>\n<request id>" of the starts between their Prepare and their commit.
  std::set<std::string> starting_requests_ ABSL_GUARDED_BY(mu_);
  // What Tick looks at, so that its work grows with what changed, not with the active runs:
  // runs that changed since they were last advanced (an event, a finished task, a start)...
  std::set<std::string> ready_ ABSL_GUARDED_BY(mu_);
  // ...each run's next timed work, earliest first...
  std::set<std::pair<absl::Time, std::string>> timers_ ABSL_GUARDED_BY(mu_);
  // ...and the stages where a queued run may now start. The active runs of each stage:
  std::set<StageKey> promote_stages_ ABSL_GUARDED_BY(mu_);
  // Runs that have ended but are still active (their end not yet written, or tasks in flight).
  std::set<std::string> ended_ ABSL_GUARDED_BY(mu_);
  std::map<StageKey, std::set<std::string>> by_stage_ ABSL_GUARDED_BY(mu_);
  // Loads in progress (Load reads the store without the lock), and the runs that left the
  // active set meanwhile: what they read of those is stale.
  int loading_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::string> erased_while_loading_ ABSL_GUARDED_BY(mu_);
  // Changes not yet committed, and the driver and HTTP work of started nodes, posted once their
  // RUNNING state is committed.
  RunJournal journal_ ABSL_GUARDED_BY(mu_);
  // Latest committed event sequence per active run, for WaitForEvents (entries go with the run,
  // so memory stays bounded by the active runs).
  std::map<std::string, int64_t> committed_events_ ABSL_GUARDED_BY(mu_);
  // A Commit is writing (with mu_ released); the next one waits for it.
  bool committing_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex completions_mu_;
  std::vector<Completion> completions_ ABSL_GUARDED_BY(completions_mu_);
  bool work_ ABSL_GUARDED_BY(completions_mu_) = false;
};

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_EXECUTOR_H_
