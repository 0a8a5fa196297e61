#include "release/executor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/proto_time.h"
#include "common/proto_yaml.h"
#include "common/run_state.h"
#include "common/status_macros.h"
#include "release/active_run.h"
#include "release/admission.h"
#include "release/nodes/node_kind.h"

namespace slipway::release {

Executor::Executor(ExecutorDeps deps) : deps_(std::move(deps)) {
  if (deps_.node_kinds.empty()) deps_.node_kinds = BuiltinNodeKinds();
}
Executor::~Executor() = default;

google::protobuf::Timestamp Executor::Now() const { return ProtoTime(deps_.clock->Now()); }

absl::StatusOr<std::optional<v1::StageHold>> Executor::HoldOf(const std::string& pipeline,
                                                              const std::string& stage) {
  std::optional<v1::StageHold> hold;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(hold, storage::StageHoldRepository().Get(tx, pipeline, stage));
    return absl::OkStatus();
  }));
  return hold;
}

std::map<std::string, std::string> StartValues(const v1::TriggerInfo& t, const std::string& stage,
                                               const std::string& pipeline) {
  std::map<std::string, std::string> v;
  v["trigger.branch"] = t.branch();
  v["trigger.sha"] = t.sha();
  v["trigger.tag"] = t.tag();
  v["trigger.pull_request"] = t.pull_request();
  v["trigger.event"] = t.event();
  v["trigger.source"] = t.source();
  v["trigger.actor"] = t.actor();
  v["trigger.delivery"] = t.delivery();
  v["trigger.reason"] = t.reason();
  v["stage.name"] = stage;
  v["pipeline.name"] = pipeline;
  return v;
}

std::map<std::string, std::string> Executor::Values(const ActiveRun& ar) const {
  const v1::Run& run = ar.run;
  std::map<std::string, std::string> v = StartValues(run.trigger(), run.stage(), run.pipeline());
  for (const auto& [k, val] : run.args()) v["args." + k] = val;
  for (const auto& [k, val] : run.secret_args()) v["args." + k] = val;
  if (!run.preview().empty()) {
    v["preview.name"] = run.preview();
    // The URL of the first service deployed so far.
    v["preview.url"] = "";
    for (const auto& n : run.nodes()) {
      auto url = n.outputs().find("url");
      if (n.state() == v1::NODE_STATE_SUCCEEDED && url != n.outputs().end()) {
        v["preview.url"] = url->second;
        break;
      }
    }
  }
  for (const auto& n : run.nodes()) {
    if (n.state() != v1::NODE_STATE_SUCCEEDED) continue;
    for (const auto& [k, val] : n.outputs()) v["refs." + n.ref() + "." + k] = val;
  }
  return v;
}

void Executor::Emit(ActiveRun& ar, const v1::NodeStatus* node, const std::string& log) {
  v1::RunEvent e;
  e.set_sequence(ar.run.last_event() + 1);
  ar.run.set_last_event(e.sequence());
  *e.mutable_time() = Now();
  e.set_run_id(ar.run.id());
  e.set_state(ar.run.state());
  if (node != nullptr) *e.mutable_node() = *node;
  e.set_log(log);
  journal_.AddEvent(std::move(e));
  ready_.insert(ar.run.id());
  if (!ar.dirty) {
    ar.dirty = true;
    journal_.MarkDirty(ar.run.id());
  }
}

absl::Status Executor::Recover() {
  // Replicas: a new process is a new replica and owns no runs yet; those of the replica it
  // replaces are adopted through their lease (Adopt).
  if (!deps_.replica.empty()) return absl::OkStatus();
  return Load("", "the controller restarted while this node ran");
}

absl::StatusOr<int> Executor::Adopt(const std::string& from) {
  const std::string why = absl::StrCat("replica ", from, " stopped while this node ran");
  int before = 0;
  {
    absl::MutexLock lock(&mu_);
    before = static_cast<int>(active_.size());
  }
  RETURN_IF_ERROR(Load(from, why));
  absl::MutexLock lock(&mu_);
  return static_cast<int>(active_.size()) - before;
}

absl::StatusOr<int> Executor::PickUp() {
  if (deps_.replica.empty()) return 0;
  int before = 0;
  {
    absl::MutexLock lock(&mu_);
    before = static_cast<int>(active_.size());
  }
  RETURN_IF_ERROR(Load(deps_.replica, "", /*pickup=*/true));
  int picked = 0;
  {
    absl::MutexLock lock(&mu_);
    picked = std::max(0, static_cast<int>(active_.size()) - before);
  }
  RETURN_IF_ERROR(ServeForwarded());
  return picked;
}

absl::Status Executor::Load(const std::string& from, const std::string& why, bool pickup) {
  {
    absl::MutexLock lock(&mu_);
    ++loading_;
  }
  std::vector<v1::Run> runs;
  absl::Status read = deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(runs, runs_repo_.ListActive(tx));
    return absl::OkStatus();
  });
  if (deps_.after_load_read) deps_.after_load_read();
  const bool adopting = !deps_.replica.empty();
  absl::MutexLock lock(&mu_);
  // A run that ended and left the active set while the store was read is still active in what
  // was read: it must not come back.
  std::set<std::string> erased;
  if (--loading_ == 0) {
    erased.swap(erased_while_loading_);
  } else {
    erased = erased_while_loading_;
  }
  RETURN_IF_ERROR(read);
  for (v1::Run& run : runs) {
    if (adopting && run.replica() != from) continue;
    if (active_.contains(run.id()) || erased.contains(run.id())) continue;
    auto ar = std::make_unique<ActiveRun>();
    ar->run = std::move(run);
    ar->Index();
    ActiveRun& a = *ar;
    std::string id = a.run.id();
    committed_events_[id] = a.run.last_event();
    AddActive(std::move(ar));
    ready_.insert(id);
    promote_stages_.insert({a.run.pipeline(), a.run.stage()});
    if (pickup) {
      Emit(a, nullptr,
           absl::StrCat("picked up by replica ", deps_.replica,
                        ", which executes this stage's other runs"));
      AdmitPickedUp(a);
    } else if (adopting) {
      a.run.set_replica(deps_.replica);
      Emit(a, nullptr,
           absl::StrCat("adopted by replica ", deps_.replica, " from replica ",
                        from.empty() ? "(none)" : from, ", whose lease expired"));
      // What a driver keeps on one machine (a `process` service) stayed with the replica that
      // is gone: reported unavailable, never started again here.
      if (std::string local = MachineLocalResources(a.run); !local.empty()) {
        FinishRun(
            a, v1::RUN_STATE_FAILED,
            absl::StrCat("unavailable: ", local, " ran on replica ", from.empty() ? "(none)" : from,
                         ", which is gone; a resource of a machine-local driver is not "
                         "started again on another replica"));
        continue;
      }
    }
    for (auto& node : *a.run.mutable_nodes()) {
      if (node.state() != v1::NODE_STATE_RUNNING) continue;
      const v1::Step* step = a.steps[node.path()];
      auto kind = deps_.node_kinds.find(step->kind_case());
      if (kind != deps_.node_kinds.end() && kind->second->idempotent()) {
        // Start the same attempt again: re-applying an idempotent node is safe.
        node.set_state(v1::NODE_STATE_WAITING);
        *node.mutable_wake_time() = Now();
        node.set_attempts(std::max(0, node.attempts() - 1));
        Emit(a, &node, absl::StrCat(why, "; starting it again"));
      } else {
        FailAttempt(a, node, *step, absl::StrCat("outcome unknown: ", why));
      }
    }
    UpdateTimer(a);
  }
  return Commit();
}

void Executor::AdmitPickedUp(ActiveRun& picked) {
  // It was queued behind the stage's runs when it was handed over; what its policy does to
  // them (latest skips the older queued ones, replace cancels the running ones) happens now.
  const v1::ConcurrencyPolicy policy =
      EffectivePolicy(picked.run.stage_spec().concurrency(), std::nullopt);
  if (policy != v1::CONCURRENCY_POLICY_LATEST && policy != v1::CONCURRENCY_POLICY_REPLACE) return;
  std::vector<OtherRun> running, queued;
  for (const std::string& id : by_stage_[{picked.run.pipeline(), picked.run.stage()}]) {
    const ActiveRun* other = active_.at(id).get();
    if (other == &picked || other->ended) continue;
    (other->run.state() == v1::RUN_STATE_QUEUED ? queued : running)
        .push_back({id, other->run.state() == v1::RUN_STATE_CANCELLING});
  }
  ApplyToOthers(Admit(policy, absl::StrCat(picked.run.pipeline(), "/", picked.run.stage()),
                      picked.run.id(), running, queued));
}

void Executor::ApplyToOthers(const Admission& admission) {
  for (const auto& [id, reason] : admission.skip) {
    FinishRun(*active_.at(id), v1::RUN_STATE_SKIPPED, reason);
  }
  for (const auto& [id, reason] : admission.cancel) {
    ActiveRun& r = *active_.at(id);
    r.run.set_state(v1::RUN_STATE_CANCELLING);
    r.run.set_error(reason);
    Emit(r, nullptr, absl::StrCat("cancelling: ", reason));
  }
}

std::string Executor::MachineLocalResources(const v1::Run& run) const {
  std::vector<std::string> local;
  for (const v1::Resource& r : run.stage_spec().resources()) {
    auto driver = deps_.drivers.find(r.driver());
    if (driver != deps_.drivers.end() && !driver->second->shared()) {
      local.push_back(absl::StrCat("resource \"", r.name(), "\" (driver ", r.driver(), ")"));
    }
  }
  return absl::StrJoin(local, ", ");
}

absl::Status Executor::RemoteRun(const v1::Run& stored) const {
  return absl::FailedPreconditionError(absl::StrCat(
      "run ", stored.id(), " is executed by replica ", stored.replica(), ", not by this one (",
      deps_.replica, "); send the call to that replica (slipway get replicas shows its address)"));
}

absl::StatusOr<v1::Run> Executor::Cancel(const std::string& run_id, const std::string& by,
                                         const std::string& reason) {
  std::string remote;
  absl::StatusOr<v1::Run> here = CancelHere(run_id, by, reason, &remote);
  if (remote.empty()) return here;
  return Forward({.run_id = run_id, .kind = "cancel", .by = by, .text = reason}, remote);
}

absl::StatusOr<v1::Run> Executor::Approve(const std::string& run_id, const std::string& ref,
                                          const std::string& by, const std::string& comment,
                                          bool reject) {
  std::string remote;
  absl::StatusOr<v1::Run> here = ApproveHere(run_id, ref, by, comment, reject, &remote);
  if (remote.empty()) return here;
  return Forward({.run_id = run_id,
                  .kind = reject ? "reject" : "approve",
                  .by = by,
                  .node = ref,
                  .text = comment},
                 remote);
}

absl::StatusOr<v1::Run> Executor::CancelHere(const std::string& run_id, const std::string& by,
                                             const std::string& reason, std::string* remote) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(run_id);
  if (it == active_.end() || it->second->ended) {
    v1::Run stored;
    RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(stored, runs_repo_.Get(tx, run_id));
      return absl::OkStatus();
    }));
    if (!RunEnded(stored.state()) && stored.replica() != deps_.replica) {
      *remote = stored.replica();
      return RemoteRun(stored);
    }
    return absl::FailedPreconditionError(absl::StrCat("run ", run_id, " has already ended (",
                                                      v1::RunState_Name(stored.state()), ")"));
  }
  ActiveRun& ar = *it->second;
  if (ar.run.state() == v1::RUN_STATE_QUEUED) {
    ar.run.set_cancelled_by(by);
    FinishRun(ar, v1::RUN_STATE_CANCELLED,
              reason.empty() ? "cancelled while queued" : absl::StrCat("cancelled: ", reason));
  } else if (ar.run.state() != v1::RUN_STATE_CANCELLING) {
    ar.run.set_state(v1::RUN_STATE_CANCELLING);
    ar.run.set_cancelled_by(by);
    ar.run.set_error(reason.empty() ? "cancelled" : absl::StrCat("cancelled: ", reason));
    Emit(ar, nullptr, "cancelling");
    AdvanceRun(ar);
    UpdateTimer(ar);
  }
  v1::Run out = ar.run;
  RETURN_IF_ERROR(Commit());
  absl::MutexLock wl(&completions_mu_);
  work_ = true;
  return out;
}

absl::StatusOr<v1::Run> Executor::ApproveHere(const std::string& run_id, const std::string& ref,
                                              const std::string& by, const std::string& comment,
                                              bool reject, std::string* remote) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(run_id);
  if (it == active_.end() || it->second->ended) {
    if (it == active_.end() && !deps_.replica.empty()) {
      v1::Run stored;
      RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
        ASSIGN_OR_RETURN(stored, runs_repo_.Get(tx, run_id));
        return absl::OkStatus();
      }));
      if (!RunEnded(stored.state()) && stored.replica() != deps_.replica) {
        *remote = stored.replica();
        return RemoteRun(stored);
      }
    }
    return absl::FailedPreconditionError(
        absl::StrCat("run ", run_id, " is not in progress; nothing to approve"));
  }
  ActiveRun& ar = *it->second;
  v1::NodeStatus* node = nullptr;
  const v1::Step* step = nullptr;
  for (auto& n : *ar.run.mutable_nodes()) {
    if (n.ref() == ref) {
      node = &n;
      step = ar.steps[n.path()];
    }
  }
  if (node == nullptr || !step->has_approval()) {
    return absl::NotFoundError(absl::StrCat("run ", run_id, " has no approval node \"", ref, "\""));
  }
  if (node->state() != v1::NODE_STATE_AWAITING_APPROVAL) {
    return absl::FailedPreconditionError(absl::StrCat("node \"", ref,
                                                      "\" is not waiting for approval (",
                                                      v1::NodeState_Name(node->state()), ")"));
  }
  if (!ar.run.trigger().actor().empty() && by == ar.run.trigger().actor()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the run's initiator (", by, ") cannot approve it"));
  }
  for (const auto& a : node->approvals()) {
    if (a.by() == by) {
      return absl::FailedPreconditionError(absl::StrCat(
          by, " has already ", a.rejected() ? "rejected" : "approved", " \"", ref, "\""));
    }
  }
  auto* approval = node->add_approvals();
  approval->set_by(by);
  *approval->mutable_time() = Now();
  approval->set_rejected(reject);
  approval->set_comment(comment);
  int needed = std::max(1, step->approval().approvals());
  int approvals = 0;
  std::vector<std::string> approvers;
  for (const auto& a : node->approvals()) {
    if (!a.rejected()) {
      ++approvals;
      approvers.push_back(a.by());
    }
  }
  if (reject) {
    node->set_state(v1::NODE_STATE_FAILED);
    node->set_error(absl::StrCat("rejected by ", by, comment.empty() ? "" : ": " + comment));
    *node->mutable_end_time() = Now();
  } else if (approvals >= needed) {
    node->set_state(v1::NODE_STATE_SUCCEEDED);
    *node->mutable_end_time() = Now();
    (*node->mutable_outputs())["approved_by"] = absl::StrJoin(approvers, ",");
  }
  Emit(ar, node,
       absl::StrCat(reject ? "rejected" : "approved", " by ", by, " (", approvals, "/", needed,
                    ")"));
  AdvanceRun(ar);
  UpdateTimer(ar);
  v1::Run out = ar.run;
  RETURN_IF_ERROR(Commit());
  absl::MutexLock wl(&completions_mu_);
  work_ = true;
  return out;
}

void Executor::PromoteQueued() {
  std::set<StageKey> stages;
  stages.swap(promote_stages_);
  for (const auto& key : stages) {
    auto runs = by_stage_.find(key);
    if (runs == by_stage_.end()) continue;
    bool busy = false;
    ActiveRun* next = nullptr;
    for (const std::string& id : runs->second) {
      ActiveRun* ar = active_.at(id).get();
      if (ar->ended) continue;
      if (ar->run.state() != v1::RUN_STATE_QUEUED) {
        busy = true;
        break;
      }
      if (ar->starting) continue;
      // Ids are not in creation order; the oldest queued run by create time goes first.
      const int order =
          next == nullptr ? -1 : CompareTime(ar->run.create_time(), next->run.create_time());
      if (order < 0 || (order == 0 && ar->run.last_event() == 0)) {
        next = ar;
      }
    }
    if (busy || next == nullptr) continue;
    next->run.set_state(v1::RUN_STATE_PENDING);
    next->run.clear_waiting_reason();
    Emit(*next, nullptr, "dequeued");
  }
}

void Executor::AddActive(std::unique_ptr<ActiveRun> ar) {
  const std::string id = ar->run.id();
  by_stage_[{ar->run.pipeline(), ar->run.stage()}].insert(id);
  active_[id] = std::move(ar);
}

std::map<std::string, std::unique_ptr<Executor::ActiveRun>>::iterator Executor::EraseActive(
    std::map<std::string, std::unique_ptr<ActiveRun>>::iterator it) {
  const ActiveRun& ar = *it->second;
  StageKey key{ar.run.pipeline(), ar.run.stage()};
  auto stage = by_stage_.find(key);
  if (stage != by_stage_.end()) {
    stage->second.erase(it->first);
    if (stage->second.empty()) by_stage_.erase(stage);
  }
  if (ar.due != absl::InfiniteFuture()) timers_.erase({ar.due, it->first});
  ready_.erase(it->first);
  if (loading_ > 0) erased_while_loading_.insert(it->first);
  return active_.erase(it);
}

void Executor::UpdateTimer(ActiveRun& ar) {
  absl::Time due = absl::InfiniteFuture();
  if (!ar.ended) {
    for (const auto& n : ar.run.nodes()) {
      const google::protobuf::Timestamp* t = nullptr;
      if (n.state() == v1::NODE_STATE_WAITING && n.has_wake_time()) t = &n.wake_time();
      if (n.state() == v1::NODE_STATE_RUNNING && n.has_deadline()) t = &n.deadline();
      if (t == nullptr) continue;
      absl::Time when = TimeFromProto(*t).value_or(absl::InfinitePast());
      if (when < due) due = when;
    }
  }
  if (due == ar.due) return;
  if (ar.due != absl::InfiniteFuture()) timers_.erase({ar.due, ar.run.id()});
  if (due != absl::InfiniteFuture()) timers_.insert({due, ar.run.id()});
  ar.due = due;
}

absl::Status Executor::Tick() {
  std::vector<Completion> done;
  {
    absl::MutexLock lock(&completions_mu_);
    done.swap(completions_);
    work_ = false;
  }
  absl::MutexLock lock(&mu_);
  for (Completion& c : done) ApplyCompletion(c);
  // Runs whose timed work is due join the ready ones.
  const absl::Time now = deps_.clock->Now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const std::string id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    auto it = active_.find(id);
    if (it == active_.end()) continue;
    it->second->due = absl::InfiniteFuture();
    ready_.insert(id);
  }
  // Advancing one run can end it and let a queued one start, and each change makes its run
  // ready again: repeat until nothing changes (or three rounds; the rest is the next Tick's).
  for (int round = 0; round < 3 && (!ready_.empty() || !promote_stages_.empty()); ++round) {
    PromoteQueued();
    std::set<std::string> ready;
    ready.swap(ready_);
    for (const std::string& id : ready) {
      auto it = active_.find(id);
      if (it == active_.end() || it->second->starting) continue;  // StartAll readies it again
      AdvanceRun(*it->second);
      UpdateTimer(*it->second);
    }
  }
  if (!ready_.empty() || !promote_stages_.empty()) {
    absl::MutexLock wl(&completions_mu_);
    work_ = true;
  }
  return Commit();
}

absl::Status Executor::Commit(const std::function<absl::Status(storage::Transaction&)>& extra) {
  // One commit at a time, in order; the lock is released while the store writes, so starts,
  // cancels and approvals are not held up by the fsync.
  mu_.Await(absl::Condition(
      +[](bool* committing) { return !*committing; }, &committing_));
  // Runs whose first state Start is still writing are written by a later commit.
  // (Take calls it under mu_, which this function holds.)
  JournalBatch batch =
      journal_.Take([&](const std::string& run_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        auto it = active_.find(run_id);
        return it != active_.end() && it->second->starting;
      });
  if (batch.writes_nothing() && extra == nullptr) {
    journal_.Restore(std::move(batch));
    DropEndedRuns();  // e.g. the last late result of an ended run, with nothing to record
    return absl::OkStatus();
  }
  // The records this commit writes.
  std::map<std::string, v1::Run> runs;
  for (const std::string& id : batch.run_ids) {
    auto it = active_.find(id);
    if (it == active_.end()) continue;
    runs[id] = it->second->run;
    it->second->dirty = false;  // a change made while this commit writes lists it again
  }
  const google::protobuf::Timestamp now = Now();

  committing_ = true;
  mu_.Unlock();
  std::map<std::string, int64_t> release_numbers;
  const absl::Time write_start = deps_.clock->Now();
  absl::Status s = deps_.db->Write([&](storage::Transaction& tx) -> absl::Status {
    RETURN_IF_ERROR(WriteBatch(tx, batch, runs, now, release_numbers));
    if (extra != nullptr) RETURN_IF_ERROR(extra(tx));
    return absl::OkStatus();
  });
  mu_.Lock();
  committing_ = false;
  if (!s.ok()) {
    // Everything stays pending and is retried next time (events ahead of those added meanwhile).
    for (const std::string& id : batch.run_ids) {
      auto it = active_.find(id);
      if (it == active_.end() || it->second->dirty) continue;  // gone, or listed again already
      it->second->dirty = true;
      journal_.MarkDirty(id);
    }
    journal_.Restore(std::move(batch));
    return s;
  }
  for (const auto& [run_id, number] : release_numbers) {
    auto it = active_.find(run_id);
    if (it != active_.end()) it->second->run.set_release(number);
  }
  for (const v1::RunEvent& e : batch.events) {
    committed_events_[e.run_id()] = std::max(committed_events_[e.run_id()], e.sequence());
  }
  if (deps_.on_commit) {
    for (auto& [run_id, run] : runs) {
      if (auto it = release_numbers.find(run_id); it != release_numbers.end()) {
        run.set_release(it->second);
      }
    }
    deps_.on_commit(CommitReport{.runs = &runs,
                                 .releases = &batch.releases,
                                 .events = batch.events.size(),
                                 .seconds = absl::ToDoubleSeconds(deps_.clock->Now() - write_start),
                                 .active_runs = active_.size()});
  }
  DropEndedRuns();
  // Effects start only after the state that announces them is on disk.
  for (auto& t : batch.tasks) deps_.tasks->Post(std::move(t));
  return absl::OkStatus();
}

void Executor::DropEndedRuns() {
  // A run leaves the active set once its end is on disk and nothing of it is in flight.
  bool any_ended = false;
  for (auto e = ended_.begin(); e != ended_.end();) {
    auto it = active_.find(*e);
    if (it == active_.end()) {
      e = ended_.erase(e);
    } else if (it->second->in_flight == 0 && !it->second->starting && !it->second->dirty) {
      committed_events_.erase(it->first);  // WaitForEvents: a run no longer active has ended
      EraseActive(it);
      e = ended_.erase(e);
      any_ended = true;
    } else {
      ++e;
    }
  }
  if (any_ended && deps_.on_run_ended) deps_.on_run_ended();
}

std::optional<absl::Time> Executor::NextWake() {
  absl::MutexLock lock(&mu_);
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first;
}

bool Executor::WaitForEvents(const std::string& run_id, int64_t after, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  if (!active_.contains(run_id) && !deps_.replica.empty()) {
    // Executed by another replica (or ended): its events come through the store, read again
    // after a short wait instead of at once.
    bool never = false;
    mu_.AwaitWithTimeout(absl::Condition(&never), std::min(timeout, absl::Milliseconds(200)));
    return true;
  }
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = committed_events_.find(run_id);
    return (it != committed_events_.end() && it->second > after) || !active_.contains(run_id);
  };
  return mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
}

void Executor::WaitForWork(absl::Duration timeout) {
  absl::MutexLock lock(&completions_mu_);
  completions_mu_.AwaitWithTimeout(absl::Condition(&work_), timeout);
}

std::vector<std::string> Executor::RunsInProgress(const std::string& pipeline,
                                                  const std::string& stage) {
  absl::MutexLock lock(&mu_);
  auto it = by_stage_.find({pipeline, stage});
  if (it == by_stage_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

int Executor::ActiveRuns() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(active_.size());
}

}  // namespace slipway::release
