// Starting runs: Start and StartAll check the flow, look up and record request ids, apply the
// stage's concurrency policy (admission.h) and write each new run's first state themselves, so
// concurrent starts share one group commit.
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/error_reason.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "expression/expression.h"
#include "expression/flow_check.h"
#include "release/active_run.h"
#include "release/admission.h"
#include "storage/request_log.h"

namespace slipway::release {
namespace {

using expression::CheckFlowStatus;
using expression::FlowCheckInput;

// Ref of the approval node that stage protection puts in front of a flow.
constexpr char kProtectionGate[] = "protection";

void CollectNodes(const v1::Steps& steps, const std::string& path, v1::Run& run) {
  for (int i = 0; i < steps.steps_size(); ++i) {
    const v1::Step& s = steps.steps(i);
    std::string p = absl::StrCat(path, "[", i, "]");
    if (s.has_sequential()) {
      CollectNodes(s.sequential(), p + ".sequential", run);
    } else if (s.has_parallel()) {
      CollectNodes(s.parallel(), p + ".parallel", run);
    } else {
      auto* n = run.add_nodes();
      n->set_ref(s.ref());
      n->set_path(p);
      n->set_state(v1::NODE_STATE_PENDING);
    }
  }
}

}  // namespace

struct Executor::PendingStart {
  // The request id was used before: its run, and nothing to write.
  std::optional<v1::Run> existing;
  v1::Run first;  // the run's first state and events, as they are written
  std::vector<v1::RunEvent> events;
  bool lift_hold = false;
  std::string request_id;
  std::string request_method;
  std::string request_fingerprint;
  std::string request_extra;
  // Set inside the transaction when a concurrent start with the same request id committed
  // first: this run is not written, and the caller gets that one (or `reused`).
  std::optional<std::string> raced_run_id;
  std::string raced_extra;
  absl::Status reused;
  // The stage's concurrency policy for this run.
  v1::ConcurrencyPolicy policy = v1::CONCURRENCY_POLICY_UNSPECIFIED;
  // Set inside the transaction when the stage's other runs are another replica's: this run is
  // written as that replica's, queued, and not kept here (HandOver).
  std::optional<v1::Run> handed_over;
};

namespace {

// A logged start is "<run id>\n<extra>". Entries written before extras existed are a serialized
// Run holding only the id (they start with its field tag, never with "run-").
std::string EncodeLogged(const std::string& run_id, const std::string& extra) {
  return absl::StrCat(run_id, "\n", extra);
}

bool DecodeLogged(const std::string& bytes, std::string* run_id, std::string* extra) {
  extra->clear();
  if (!bytes.empty() && bytes[0] == '\x0a') {
    v1::Run legacy;
    if (!legacy.ParseFromString(bytes) || legacy.id().empty()) return false;
    *run_id = legacy.id();
    return true;
  }
  size_t nl = bytes.find('\n');
  if (nl == std::string::npos || nl == 0) return false;
  *run_id = bytes.substr(0, nl);
  *extra = bytes.substr(nl + 1);
  return true;
}

absl::Status ReusedRequestId(const std::string& id) {
  return absl::InvalidArgumentError(
      absl::StrCat("request_id: \"", id,
                   "\" was already used for a different request; use a new id for a new request"));
}

// Whether a logged fingerprint allows this request. Entries logged without one (internal
// callers, older versions) match any.
bool SameRequest(const std::string& logged, const std::string& fingerprint) {
  return logged.empty() || fingerprint.empty() || logged == fingerprint;
}

}  // namespace

absl::Status ResolveArguments(const v1::Pipeline& pipeline,
                              const std::map<std::string, std::string>& given,
                              const std::map<std::string, std::string>& values,
                              std::map<std::string, std::string>* args,
                              std::map<std::string, std::string>* secret) {
  *args = given;
  secret->clear();
  absl::flat_hash_map<std::string, std::string> known(values.begin(), values.end());
  for (const v1::ArgumentSpec& a : pipeline.arguments()) {
    std::string value;
    if (auto it = given.find(a.name()); it != given.end()) {
      value = it->second;
    } else if (auto o = pipeline.argument_overrides().find(a.name());
               o != pipeline.argument_overrides().end()) {
      value = o->second;
    } else if (auto so = pipeline.secret_argument_overrides().find(a.name());
               so != pipeline.secret_argument_overrides().end()) {
      value = so->second;
    } else if (!a.default_().empty()) {
      auto t = expression::Template::Parse(a.default_());
      absl::StatusOr<std::string> v =
          t.ok() ? t->Evaluate(known) : absl::StatusOr<std::string>(t.status());
      if (!v.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("arguments[", a.name(), "].default: ", v.status().message()));
      }
      value = *std::move(v);
    } else if (a.required()) {
      return absl::InvalidArgumentError(
          absl::StrCat("args.", a.name(), ": required by pipeline \"", pipeline.name(),
                       "\" and not given (give it with the run, or set it in argument_overrides)",
                       a.description().empty() ? "" : absl::StrCat("; ", a.description())));
    } else {
      continue;
    }
    if (a.secret()) {
      args->erase(a.name());
      (*secret)[a.name()] = std::move(value);
    } else {
      (*args)[a.name()] = std::move(value);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Run> Executor::Start(const StartRequest& request, const std::string& request_id,
                                        std::string* extra) {
  StartAllResult r = StartAll({{request, request_id}}, nullptr);
  if (!r.committed.ok()) return r.committed;
  if (extra != nullptr) *extra = std::move(r.extras.front());
  return std::move(r.runs.front());
}

absl::StatusOr<v1::Run> Executor::CurrentRun(const std::string& run_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(run_id);
    if (it != active_.end()) return it->second->run;
  }
  v1::Run stored;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(stored, runs_repo_.Get(tx, run_id));
    return absl::OkStatus();
  }));
  return stored;
}

absl::StatusOr<std::optional<LoggedStart>> Executor::FindLogged(const std::string& method,
                                                                const std::string& request_id,
                                                                const std::string& fingerprint) {
  if (request_id.empty()) return std::nullopt;
  std::optional<storage::LoggedResponse> logged;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(logged, storage::RequestLog().Find(tx, method, request_id));
    return absl::OkStatus();
  }));
  if (!logged.has_value()) return std::nullopt;
  if (!SameRequest(logged->fingerprint, fingerprint)) return ReusedRequestId(request_id);
  LoggedStart out;
  std::string run_id;
  if (!DecodeLogged(logged->response, &run_id, &out.extra)) {
    return absl::DataLossError(absl::StrCat("request log: the entry for request_id \"", request_id,
                                            "\" cannot be decoded"));
  }
  ASSIGN_OR_RETURN(out.run, CurrentRun(run_id));
  return out;
}

Executor::StartAllResult Executor::StartAll(
    const std::vector<std::pair<StartRequest, std::string>>& requests,
    const std::function<absl::Status(storage::Transaction&,
                                     const std::vector<absl::StatusOr<v1::Run>>&)>& also) {
  StartAllResult out;
  std::vector<absl::StatusOr<PendingStart>> pending;
  // One start per request id at a time: a concurrent retry waits here until the first has
  // committed, then finds it in the request log. A repeat within this batch takes the answer
  // of its first occurrence.
  std::map<std::string, size_t> claimed;
  std::map<size_t, size_t> repeat_of;
  for (const auto& [request, request_id] : requests) {
    if (!request_id.empty()) {
      std::string key = absl::StrCat(request.request_method, "\n", request_id);
      if (auto it = claimed.find(key); it != claimed.end()) {
        repeat_of[pending.size()] = it->second;
        pending.push_back(absl::AbortedError("repeated in this batch"));
        out.extras.push_back("");
        out.runs.push_back(absl::AbortedError("repeated in this batch"));
        continue;
      }
      claimed[key] = pending.size();
      std::pair<std::set<std::string>*, const std::string*> wait_for(&starting_requests_, &key);
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](std::pair<std::set<std::string>*, const std::string*>* a) {
            return a->first->count(*a->second) == 0;
          },
          &wait_for));
      starting_requests_.insert(key);
    }
    pending.push_back(Prepare(request, request_id));
    out.extras.push_back(request.request_extra);
    if (!pending.back().ok()) {
      out.runs.push_back(pending.back().status());
    } else if (pending.back()->existing.has_value()) {
      out.runs.push_back(*pending.back()->existing);
      out.extras.back() = pending.back()->request_extra;
    } else {
      out.runs.push_back(pending.back()->first);
    }
  }
  // The new runs' first states are written by this call alone, outside the executor's lock, so
  // concurrent starts (webhook deliveries, API calls) share one group commit. Repeatable: each
  // attempt starts from the pending starts' own fields, which it sets afresh.
  out.committed = deps_.db->Write(
      [&](storage::Transaction& tx) -> absl::Status {
        for (auto& p : pending) {
          if (!p.ok() || p->existing.has_value()) continue;
          p->raced_run_id.reset();
          p->reused = absl::OkStatus();
          if (!p->request_id.empty()) {
            // Looked up again inside the write: a concurrent start with the same id may have
            // committed since Prepare, and then its run is the answer.
            ASSIGN_OR_RETURN(auto logged,
                             storage::RequestLog().Find(tx, p->request_method, p->request_id));
            if (logged.has_value()) {
              std::string run_id;
              if (!SameRequest(logged->fingerprint, p->request_fingerprint)) {
                p->reused = ReusedRequestId(p->request_id);
              } else if (DecodeLogged(logged->response, &run_id, &p->raced_extra)) {
                p->raced_run_id = run_id;
              } else {
                p->reused = absl::DataLossError("request log: an entry cannot be decoded");
              }
              continue;
            }
          }
          p->handed_over.reset();
          RETURN_IF_ERROR(HandOver(tx, *p));
          if (!p->reused.ok()) continue;
          if (p->handed_over.has_value()) {
            v1::RunEvent queued = p->events.front();
            queued.set_state(p->handed_over->state());
            queued.set_log(p->handed_over->waiting_reason());
            RETURN_IF_ERROR(runs_repo_.Add(tx, *p->handed_over));
            RETURN_IF_ERROR(runs_repo_.AppendEvent(tx, queued));
          } else {
            RETURN_IF_ERROR(runs_repo_.Add(tx, p->first));
            RETURN_IF_ERROR(runs_repo_.AppendEvents(tx, p->events));
          }
          if (p->lift_hold) {
            RETURN_IF_ERROR(storage::StageHoldRepository()
                                .Delete(tx, p->first.pipeline(), p->first.stage())
                                .status());
          }
          if (!p->request_id.empty()) {
            // The request id is recorded in the same transaction as the run.
            RETURN_IF_ERROR(storage::RequestLog().Put(
                tx, p->request_method, p->request_id,
                {p->request_fingerprint, EncodeLogged(p->first.id(), p->request_extra)},
                absl::ToUnixMillis(deps_.clock->Now())));
          }
        }
        return also == nullptr ? absl::OkStatus() : also(tx, out.runs);
      },
      {.repeatable = true});
  std::vector<size_t> raced;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, index] : claimed) starting_requests_.erase(key);
    for (size_t i = 0; i < pending.size(); ++i) {
      if (!pending[i].ok() || pending[i]->existing.has_value()) continue;
      const std::string id = pending[i]->first.id();
      auto it = active_.find(id);
      promote_stages_.insert({pending[i]->first.pipeline(), pending[i]->first.stage()});
      const bool not_written = pending[i]->raced_run_id.has_value() || !pending[i]->reused.ok();
      if (!out.committed.ok() || not_written || pending[i]->handed_over.has_value()) {
        if (!out.committed.ok()) {
          out.runs[i] = out.committed;
        } else if (not_written) {
          out.runs[i] = pending[i]->reused;
        } else {
          out.runs[i] = *pending[i]->handed_over;  // queued on the replica that has the stage
        }
        if (out.committed.ok() && pending[i]->raced_run_id.has_value()) raced.push_back(i);
        if (it != active_.end()) EraseActive(it);
        committed_events_.erase(id);
        journal_.Forget(id);
        continue;
      }
      it->second->starting = false;
      ready_.insert(id);
      committed_events_[id] = std::max(committed_events_[id], pending[i]->first.last_event());
      out.runs[i] = it->second->run;
    }
  }
  // Starts that lost a race to a concurrent one with the same request id answer with its run.
  for (size_t i : raced) {
    out.runs[i] = CurrentRun(*pending[i]->raced_run_id);
    out.extras[i] = pending[i]->raced_extra;
  }
  for (const auto& [i, first] : repeat_of) {
    out.runs[i] = out.runs[first];
    out.extras[i] = out.extras[first];
  }
  if (out.committed.ok()) {
    absl::MutexLock wl(&completions_mu_);
    work_ = true;
  }
  return out;
}

absl::Status Executor::HandOver(storage::Transaction& tx, PendingStart& p) {
  if (deps_.replica.empty() || p.policy == v1::CONCURRENCY_POLICY_ALLOW) return absl::OkStatus();
  // Writes are serialized, so what this sees of the stage stays true until the commit.
  ASSIGN_OR_RETURN(std::vector<v1::Run> active,
                   runs_repo_.ListActive(tx, p.first.pipeline(), p.first.stage()));
  std::vector<OtherRun> running, queued;
  std::string owner;
  for (const v1::Run& r : active) {
    if (r.replica() == deps_.replica) continue;
    if (owner.empty()) owner = r.replica();  // the oldest
    (r.state() == v1::RUN_STATE_QUEUED ? queued : running)
        .push_back({r.id(), r.state() == v1::RUN_STATE_CANCELLING});
  }
  if (owner.empty()) return absl::OkStatus();
  const std::string stage = absl::StrCat(p.first.pipeline(), "/", p.first.stage());
  if (p.policy == v1::CONCURRENCY_POLICY_FORBID) {
    p.reused = Admit(p.policy, stage, p.first.id(), running, queued).refused;
    return absl::OkStatus();
  }
  // Queued behind them, on the replica that executes them (it picks the run up: PickUp).
  v1::Run handed = p.first;
  handed.set_replica(owner);
  handed.set_state(v1::RUN_STATE_QUEUED);
  const Admission queue = Admit(v1::CONCURRENCY_POLICY_QUEUE, stage, handed.id(), running, queued);
  handed.set_waiting_reason(absl::StrCat(queue.waiting_reason, "; handed over to replica ", owner,
                                         ", which executes the stage's other runs"));
  p.handed_over = std::move(handed);
  return absl::OkStatus();
}

absl::StatusOr<Executor::PendingStart> Executor::Prepare(const StartRequest& request,
                                                         const std::string& request_id) {
  PendingStart out;
  out.request_id = request_id;
  out.request_method = request.request_method;
  out.request_fingerprint = request.request_fingerprint;
  out.request_extra = request.request_extra;
  // A retry gets the first answer, whatever has changed since (a hold, a newer release).
  if (!request_id.empty()) {
    ASSIGN_OR_RETURN(auto logged,
                     FindLogged(request.request_method, request_id, request.request_fingerprint));
    if (logged.has_value()) {
      out.existing = std::move(logged->run);
      out.request_extra = std::move(logged->extra);
      return out;
    }
  }
  const v1::Stage* stage = nullptr;
  for (const auto& s : request.pipeline.stages()) {
    if (s.name() == request.stage) stage = &s;
  }
  if (request.stage_spec.has_value()) stage = &*request.stage_spec;
  if (stage == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "stage \"", request.stage, "\" not found in pipeline \"", request.pipeline.name(), "\""));
  }
  bool lift_hold = false;
  if (request.kind == v1::RUN_KIND_RELEASE) {
    std::optional<v1::StageHold> hold;
    if (request.hold.has_value()) {
      hold = *request.hold;
    } else {
      ASSIGN_OR_RETURN(hold, HoldOf(request.pipeline.name(), request.stage));
    }
    if (hold.has_value()) {
      if (!request.override_hold) {
        return WithReason(
            absl::FailedPreconditionError(absl::StrCat(
                "stage ", request.pipeline.name(), "/", request.stage, " is held since ",
                FormatTimestamp(hold->hold_time()), " by ", hold->held_by(), ": ", hold->reason(),
                hold->pinned_release() > 0
                    ? absl::StrCat(" (pins release ", hold->pinned_release(), ")")
                    : "",
                "; release the hold, or start with override_hold")),
            ErrorReason::kStageHeld);
      }
      lift_hold = true;
    }
  }
  const bool for_preview =
      request.kind == v1::RUN_KIND_PREVIEW || request.kind == v1::RUN_KIND_PREVIEW_TEARDOWN;
  FlowCheckInput check;
  check.flow = &stage->flow();
  check.resources = &stage->resources();
  check.field = absl::StrCat("stages[", stage->name(), "].flow");
  check.resources_field = absl::StrCat("stages[", stage->name(), "].resources");
  std::map<std::string, std::string> args;
  std::map<std::string, std::string> secret_args;
  RETURN_IF_ERROR(ResolveArguments(
      request.pipeline, request.args,
      StartValues(request.trigger, request.stage, request.pipeline.name()), &args, &secret_args));
  check.args = args;
  check.args.insert(secret_args.begin(), secret_args.end());
  check.preview = for_preview;
  RETURN_IF_ERROR(CheckFlowStatus(check));

  auto ar = std::make_unique<ActiveRun>();
  v1::Run& run = ar->run;
  run.set_id("run-" + deps_.ids->OrderedHex());
  run.set_pipeline(request.pipeline.name());
  run.set_stage(request.stage);
  run.set_kind(request.kind);
  for (const auto& [k, v] : args) (*run.mutable_args())[k] = v;
  for (const auto& [k, v] : secret_args) (*run.mutable_secret_args())[k] = v;
  *run.mutable_trigger() = request.trigger;
  run.set_pipeline_revision(request.pipeline.revision());
  run.set_request_id(request_id);
  run.set_replica(deps_.replica);
  run.set_hold_overridden(lift_hold);
  run.set_rollback_to(request.rollback_to);
  run.set_preview(request.preview);
  *run.mutable_create_time() = Now();
  *run.mutable_stage_spec() = *stage;
  if (int needed = stage->protection().required_approvals(); needed > 0) {
    // Stage protection: the flow runs only after `needed` approvals, as if it began with an
    // approval node of its own.
    v1::Flow gated;
    auto* steps = gated.mutable_sequential()->mutable_steps();
    v1::Step* gate = steps->Add();
    gate->set_ref(kProtectionGate);
    gate->mutable_approval()->set_approvals(needed);
    gate->mutable_approval()->set_description("required by the stage's protection");
    v1::Step* rest = steps->Add();
    if (stage->flow().has_parallel()) {
      *rest->mutable_parallel() = stage->flow().parallel();
    } else {
      *rest->mutable_sequential() = stage->flow().sequential();
    }
    *run.mutable_stage_spec()->mutable_flow() = std::move(gated);
  }
  const v1::Flow& flow = run.stage_spec().flow();
  if (flow.has_sequential()) CollectNodes(flow.sequential(), "sequential", run);
  if (flow.has_parallel()) CollectNodes(flow.parallel(), "parallel", run);
  ar->Index();

  const v1::ConcurrencyPolicy policy = EffectivePolicy(stage->concurrency(), request.policy);
  out.policy = policy;
  absl::MutexLock lock(&mu_);
  // The stage's other runs decide every policy but allow (which need not look at them).
  std::vector<ActiveRun*> running, queued;
  if (policy != v1::CONCURRENCY_POLICY_ALLOW) {
    for (const std::string& id : by_stage_[{run.pipeline(), run.stage()}]) {
      ActiveRun* other = active_.at(id).get();
      if (other->ended) continue;
      (other->run.state() == v1::RUN_STATE_QUEUED ? queued : running).push_back(other);
    }
  }
  auto others = [](const std::vector<ActiveRun*>& runs) {
    std::vector<OtherRun> out;
    out.reserve(runs.size());
    for (const ActiveRun* r : runs) {
      out.push_back({r->run.id(), r->run.state() == v1::RUN_STATE_CANCELLING});
    }
    return out;
  };
  const Admission admission = Admit(policy, absl::StrCat(run.pipeline(), "/", run.stage()),
                                    run.id(), others(running), others(queued));
  RETURN_IF_ERROR(admission.refused);
  run.set_state(admission.queued ? v1::RUN_STATE_QUEUED : v1::RUN_STATE_PENDING);
  if (admission.queued) run.set_waiting_reason(admission.waiting_reason);
  ApplyToOthers(admission);
  std::string id = run.id();
  ActiveRun& a = *ar;
  a.starting = true;
  AddActive(std::move(ar));
  committed_events_[id] = 0;
  // The new run's only event so far, and its dirty mark, are the last ones added: they are
  // written by the caller with the run, not by the executor's next commit.
  const size_t events_before = journal_.event_count();
  Emit(a, nullptr, run.state() == v1::RUN_STATE_QUEUED ? a.run.waiting_reason() : "created");
  out.first = a.run;
  out.events = journal_.TakeEventsFrom(events_before);
  if (journal_.TakeLastDirty(id)) a.dirty = false;
  out.lift_hold = lift_hold;
  return out;
}

}  // namespace slipway::release
