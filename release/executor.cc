#include "release/executor.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error_reason.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/duration.h"
#include "common/proto_yaml.h"
#include "common/status_macros.h"
#include "common/time_format.h"
#include "pipeline/secrets.h"
#include "expression/expression.h"
#include "expression/flow_check.h"
#include "storage/request_log.h"

namespace slipway::release {
namespace {

using expression::CheckFlowStatus;
using expression::FlowCheckInput;
using expression::Template;

constexpr absl::Duration kDefaultTimeout = absl::Minutes(10);
constexpr absl::Duration kDefaultBackoff = absl::Seconds(1);
constexpr absl::Duration kDefaultInterval = absl::Seconds(2);
constexpr int kMaxLogLines = 50;
constexpr size_t kMaxOutputBytes = 4096;
// Ref of the approval node that stage protection puts in front of a flow.
constexpr char kProtectionGate[] = "protection";

bool IsIdempotent(v1::Step::KindCase kind) {
  switch (kind) {
    case v1::Step::kDeploy:
    case v1::Step::kPromote:
    case v1::Step::kAwaitCondition:
    case v1::Step::kSleep:
    case v1::Step::kApproval:
      return true;
    default:
      return false;
  }
}

absl::Duration DurationOr(const std::string& text, absl::Duration fallback) {
  if (text.empty()) return fallback;
  auto d = ParseDuration(text);
  return d.ok() ? *d : fallback;
}

std::string Truncate(std::string s, size_t max) {
  if (s.size() > max) s = s.substr(s.size() - max);
  return s;
}

absl::StatusOr<std::string> Resolve(const std::string& text,
                                    const std::map<std::string, std::string>& values) {
  if (text.find('$') == std::string::npos) return text;
  ASSIGN_OR_RETURN(Template t, Template::Parse(text));
  absl::flat_hash_map<std::string, std::string> flat(values.begin(), values.end());
  return t.Evaluate(flat);
}

bool StatusExpected(int status, const google::protobuf::RepeatedField<int32_t>& expect,
                    int lo, int hi) {
  if (expect.empty()) return status >= lo && status <= hi;
  return std::find(expect.begin(), expect.end(), status) != expect.end();
}

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

struct Executor::Completion {
  std::string run_id;
  std::string path;
  int attempt = 0;
  absl::Status status;
  std::map<std::string, std::string> outputs;
  std::vector<std::string> log;
  std::optional<v1::ResourceState> resource;
  // For await_condition: false means "checked, not yet true".
  bool condition_met = true;
};

struct Executor::ActiveRun {
  v1::Run run;
  std::map<std::string, int> node_index;
  std::map<std::string, const v1::Step*> steps;
  int in_flight = 0;
  bool ended = false;
  // Start is writing this run's first state outside the executor's lock: nothing may start its
  // nodes or write it until that commit is done.
  bool starting = false;
  // Listed in dirty_runs_: its record changed since it was last written.
  bool dirty = false;
  // Its entry in timers_ (InfiniteFuture: none).
  absl::Time due = absl::InfiniteFuture();

  void Index() {
    node_index.clear();
    steps.clear();
    for (int i = 0; i < run.nodes_size(); ++i) node_index[run.nodes(i).path()] = i;
    const v1::Flow& flow = run.stage_spec().flow();
    if (flow.has_sequential()) IndexSteps(flow.sequential(), "sequential");
    if (flow.has_parallel()) IndexSteps(flow.parallel(), "parallel");
  }
  void IndexSteps(const v1::Steps& s, const std::string& path) {
    for (int i = 0; i < s.steps_size(); ++i) {
      std::string p = absl::StrCat(path, "[", i, "]");
      steps[p] = &s.steps(i);
      if (s.steps(i).has_sequential()) IndexSteps(s.steps(i).sequential(), p + ".sequential");
      if (s.steps(i).has_parallel()) IndexSteps(s.steps(i).parallel(), p + ".parallel");
    }
  }
  v1::NodeStatus* Node(const std::string& path) {
    auto it = node_index.find(path);
    return it == node_index.end() ? nullptr : run.mutable_nodes(it->second);
  }
  const v1::Resource* Resource(const std::string& name) const {
    for (const auto& r : run.stage_spec().resources()) {
      if (r.name() == name) return &r;
    }
    return nullptr;
  }
};

Executor::Executor(ExecutorDeps deps) : deps_(std::move(deps)) {}
Executor::~Executor() = default;

std::string Executor::Now() const { return FormatRfc3339(deps_.clock->Now()); }

absl::StatusOr<std::optional<v1::StageHold>> Executor::HoldOf(const std::string& pipeline,
                                                              const std::string& stage) {
  std::optional<v1::StageHold> hold;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(hold, storage::StageHoldRepository().Get(tx, pipeline, stage));
    return absl::OkStatus();
  }));
  return hold;
}

std::map<std::string, std::string> Executor::Values(const ActiveRun& ar) const {
  std::map<std::string, std::string> v;
  const v1::Run& run = ar.run;
  for (const auto& [k, val] : run.args()) v["args." + k] = val;
  const v1::TriggerInfo& t = run.trigger();
  v["trigger.branch"] = t.branch();
  v["trigger.sha"] = t.sha();
  v["trigger.tag"] = t.tag();
  v["trigger.pull_request"] = t.pull_request();
  v["trigger.event"] = t.event();
  v["trigger.source"] = t.source();
  v["trigger.actor"] = t.actor();
  v["trigger.delivery"] = t.delivery();
  v["trigger.reason"] = t.reason();
  v["stage.name"] = run.stage();
  v["pipeline.name"] = run.pipeline();
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
  e.set_time(Now());
  e.set_run_id(ar.run.id());
  e.set_state(ar.run.state());
  if (node != nullptr) *e.mutable_node() = *node;
  e.set_log(log);
  pending_events_.push_back(std::move(e));
  ready_.insert(ar.run.id());
  if (!ar.dirty) {
    ar.dirty = true;
    dirty_runs_.push_back(ar.run.id());
  }
}

absl::Status Executor::Recover() {
  std::vector<v1::Run> runs;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(runs, runs_repo_.ListActive(tx));
    return absl::OkStatus();
  }));
  absl::MutexLock lock(&mu_);
  for (v1::Run& run : runs) {
    auto ar = std::make_unique<ActiveRun>();
    ar->run = std::move(run);
    ar->Index();
    ActiveRun& a = *ar;
    std::string id = a.run.id();
    committed_events_[id] = a.run.last_event();
    AddActive(std::move(ar));
    ready_.insert(id);
    promote_stages_.insert({a.run.pipeline(), a.run.stage()});
    for (auto& node : *a.run.mutable_nodes()) {
      if (node.state() != v1::NODE_STATE_RUNNING) continue;
      const v1::Step* step = a.steps[node.path()];
      if (IsIdempotent(step->kind_case())) {
        // Start the same attempt again: re-applying an idempotent node is safe.
        node.set_state(v1::NODE_STATE_WAITING);
        node.set_wake_time(Now());
        node.set_attempts(std::max(0, node.attempts() - 1));
        Emit(a, &node, "the controller restarted while this node ran; starting it again");
      } else {
        FailAttempt(a, node, *step,
                    "outcome unknown: the controller restarted while this node ran");
      }
    }
    UpdateTimer(a);
  }
  return Commit();
}

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

absl::StatusOr<v1::Run> Executor::Start(const StartRequest& request,
                                        const std::string& request_id, std::string* extra) {
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
    return absl::DataLossError(absl::StrCat("request log: the entry for request_id \"",
                                            request_id, "\" cannot be decoded"));
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
  // concurrent starts (webhook deliveries, API calls) share one group commit.
  out.committed = deps_.db->Write([&](storage::Transaction& tx) -> absl::Status {
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
      RETURN_IF_ERROR(runs_repo_.Insert(tx, p->first).status());
      for (const v1::RunEvent& e : p->events) RETURN_IF_ERROR(runs_repo_.AppendEvent(tx, e));
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
  });
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
    if (!out.committed.ok() || not_written) {
      out.runs[i] = out.committed.ok() ? pending[i]->reused : out.committed;
      if (out.committed.ok() && pending[i]->raced_run_id.has_value()) raced.push_back(i);
      if (it != active_.end()) EraseActive(it);
      committed_events_.erase(id);
      dirty_runs_.erase(std::remove(dirty_runs_.begin(), dirty_runs_.end(), id), dirty_runs_.end());
      pending_events_.erase(
          std::remove_if(pending_events_.begin(), pending_events_.end(),
                         [&](const v1::RunEvent& e) { return e.run_id() == id; }),
          pending_events_.end());
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
    return absl::NotFoundError(absl::StrCat("stage \"", request.stage, "\" not found in pipeline \"",
                                            request.pipeline.name(), "\""));
  }
  bool lift_hold = false;
  if (request.kind == v1::RUN_KIND_RELEASE) {
    ASSIGN_OR_RETURN(auto hold, HoldOf(request.pipeline.name(), request.stage));
    if (hold.has_value()) {
      if (!request.override_hold) {
        return WithReason(absl::FailedPreconditionError(absl::StrCat(
            "stage ", request.pipeline.name(), "/", request.stage, " is held since ",
            hold->hold_time(), " by ", hold->held_by(), ": ", hold->reason(),
            hold->pinned_release() > 0 ? absl::StrCat(" (pins release ", hold->pinned_release(), ")")
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
  check.args = request.args;
  check.preview = for_preview;
  RETURN_IF_ERROR(CheckFlowStatus(check));

  auto ar = std::make_unique<ActiveRun>();
  v1::Run& run = ar->run;
  run.set_id("run-" + deps_.ids->OrderedHex());
  run.set_pipeline(request.pipeline.name());
  run.set_stage(request.stage);
  run.set_kind(request.kind);
  for (const auto& [k, v] : request.args) (*run.mutable_args())[k] = v;
  *run.mutable_trigger() = request.trigger;
  run.set_pipeline_revision(request.pipeline.revision());
  run.set_request_id(request_id);
  run.set_hold_overridden(lift_hold);
  run.set_rollback_to(request.rollback_to);
  run.set_preview(request.preview);
  run.set_create_time(Now());
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

  v1::ConcurrencyPolicy policy = stage->concurrency() == v1::CONCURRENCY_POLICY_UNSPECIFIED
                                     ? v1::CONCURRENCY_POLICY_QUEUE
                                     : stage->concurrency();
  if (request.policy.has_value()) policy = *request.policy;
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
  run.set_state(v1::RUN_STATE_PENDING);
  auto first_active = [&]() -> std::string {
    if (!running.empty()) return running.front()->run.id();
    return queued.empty() ? "" : queued.front()->run.id();
  };
  switch (policy) {
    case v1::CONCURRENCY_POLICY_ALLOW:
      break;
    case v1::CONCURRENCY_POLICY_FORBID:
      if (!running.empty() || !queued.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "stage ", run.pipeline(), "/", run.stage(), " already has run ", first_active(),
            " in progress and its concurrency policy is forbid; cancel it or wait"));
      }
      break;
    case v1::CONCURRENCY_POLICY_REPLACE:
      for (ActiveRun* q : queued) {
        FinishRun(*q, v1::RUN_STATE_SKIPPED, absl::StrCat("replaced by run ", run.id()));
      }
      for (ActiveRun* r : running) {
        if (r->run.state() != v1::RUN_STATE_CANCELLING) {
          r->run.set_state(v1::RUN_STATE_CANCELLING);
          r->run.set_error(absl::StrCat("replaced by run ", run.id()));
          Emit(*r, nullptr, absl::StrCat("cancelling: replaced by run ", run.id()));
        }
      }
      if (!running.empty()) {
        run.set_state(v1::RUN_STATE_QUEUED);
        run.set_waiting_reason(absl::StrCat("waiting for run ", running.front()->run.id(),
                                            " to be cancelled (policy replace)"));
      }
      break;
    case v1::CONCURRENCY_POLICY_LATEST:
      for (ActiveRun* q : queued) {
        FinishRun(*q, v1::RUN_STATE_SKIPPED, absl::StrCat("superseded by run ", run.id()));
      }
      if (!running.empty()) {
        run.set_state(v1::RUN_STATE_QUEUED);
        run.set_waiting_reason(absl::StrCat("waiting for run ", running.front()->run.id(),
                                            " to finish (policy latest)"));
      }
      break;
    case v1::CONCURRENCY_POLICY_QUEUE:
    default:
      if (!running.empty() || !queued.empty()) {
        run.set_state(v1::RUN_STATE_QUEUED);
        std::string ahead = queued.empty() ? running.front()->run.id() : queued.back()->run.id();
        run.set_waiting_reason(absl::StrCat("queued behind run ", ahead, " (policy queue)"));
      }
      break;
  }
  std::string id = run.id();
  ActiveRun& a = *ar;
  a.starting = true;
  AddActive(std::move(ar));
  committed_events_[id] = 0;
  // The new run's only event so far, and its dirty mark, are the last ones added: they are
  // written by the caller with the run, not by the executor's next commit.
  const size_t events_before = pending_events_.size();
  Emit(a, nullptr, run.state() == v1::RUN_STATE_QUEUED ? a.run.waiting_reason() : "created");
  out.first = a.run;
  for (size_t i = events_before; i < pending_events_.size(); ++i) {
    out.events.push_back(std::move(pending_events_[i]));
  }
  pending_events_.resize(events_before);
  if (!dirty_runs_.empty() && dirty_runs_.back() == id) {
    dirty_runs_.pop_back();
    a.dirty = false;
  }
  out.lift_hold = lift_hold;
  return out;
}

absl::StatusOr<v1::Run> Executor::Cancel(const std::string& run_id, const std::string& by,
                                         const std::string& reason) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(run_id);
  if (it == active_.end() || it->second->ended) {
    v1::Run stored;
    RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(stored, runs_repo_.Get(tx, run_id));
      return absl::OkStatus();
    }));
    return absl::FailedPreconditionError(absl::StrCat(
        "run ", run_id, " has already ended (", v1::RunState_Name(stored.state()), ")"));
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

absl::StatusOr<v1::Run> Executor::Approve(const std::string& run_id, const std::string& ref,
                                          const std::string& by, const std::string& comment,
                                          bool reject) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(run_id);
  if (it == active_.end() || it->second->ended) {
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
    return absl::FailedPreconditionError(absl::StrCat(
        "node \"", ref, "\" is not waiting for approval (", v1::NodeState_Name(node->state()), ")"));
  }
  if (!ar.run.trigger().actor().empty() && by == ar.run.trigger().actor()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the run's initiator (", by, ") cannot approve it"));
  }
  for (const auto& a : node->approvals()) {
    if (a.by() == by) {
      return absl::FailedPreconditionError(
          absl::StrCat(by, " has already ", a.rejected() ? "rejected" : "approved", " \"", ref,
                       "\""));
    }
  }
  auto* approval = node->add_approvals();
  approval->set_by(by);
  approval->set_time(Now());
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
    node->set_end_time(Now());
  } else if (approvals >= needed) {
    node->set_state(v1::NODE_STATE_SUCCEEDED);
    node->set_end_time(Now());
    (*node->mutable_outputs())["approved_by"] = absl::StrJoin(approvers, ",");
  }
  Emit(ar, node, absl::StrCat(reject ? "rejected" : "approved", " by ", by, " (", approvals, "/",
                              needed, ")"));
  AdvanceRun(ar);
  UpdateTimer(ar);
  v1::Run out = ar.run;
  RETURN_IF_ERROR(Commit());
  absl::MutexLock wl(&completions_mu_);
  work_ = true;
  return out;
}

absl::Status Executor::StartNode(ActiveRun& ar, v1::NodeStatus& node, const v1::Step& step) {
  const absl::Time now = deps_.clock->Now();
  node.set_attempts(node.attempts() + 1);
  if (node.start_time().empty()) node.set_start_time(Now());
  node.clear_wake_time();
  node.clear_error();
  std::map<std::string, std::string> values = Values(ar);
  if (!step.skip_if().empty()) {
    auto skip = Resolve(step.skip_if(), values);
    if (!skip.ok()) {
      node.set_state(v1::NODE_STATE_FAILED);
      node.set_error(absl::StrCat("skip_if: ", skip.status().message()));
      node.set_end_time(Now());
      Emit(ar, &node);
      return absl::OkStatus();
    }
    if (*skip == "true") {
      node.set_state(v1::NODE_STATE_SKIPPED);
      node.set_end_time(Now());
      Emit(ar, &node, "skipped: skip_if is true");
      return absl::OkStatus();
    }
  }
  absl::Duration timeout = DurationOr(step.timeout(), kDefaultTimeout);
  node.set_deadline(FormatRfc3339(now + timeout));
  node.set_state(v1::NODE_STATE_RUNNING);

  // The task for this attempt; posted after the RUNNING state is committed.
  std::function<Completion()> work;
  const std::string run_id = ar.run.id();
  const std::string pipeline = ar.run.pipeline();
  const std::string stage = ar.run.stage();
  const std::string path = node.path();
  const int attempt = node.attempts();
  auto fail_now = [&](const std::string& error) {
    node.set_state(v1::NODE_STATE_FAILED);
    node.set_error(error);
    node.set_end_time(Now());
    Emit(ar, &node);
    return absl::OkStatus();
  };
  auto resolve_all = [&](const std::string& text, std::string* out) -> bool {
    auto r = Resolve(text, values);
    if (!r.ok()) {
      fail_now(std::string(r.status().message())).IgnoreError();
      return false;
    }
    *out = *r;
    return true;
  };
  // Builds the request for a resource with `artifact`; templates in the resource's settings see
  // the run's values plus the artifact.
  auto make_request = [values, pipeline, stage, run_id](const v1::Resource& spec,
                                                        const v1::Artifact& artifact)
      -> absl::StatusOr<deploy::DeployRequest> {
    std::map<std::string, std::string> v = values;
    v["artifact.image"] = artifact.image();
    v["artifact.sha"] = artifact.sha();
    v["artifact.version"] = artifact.version();
    for (const auto& [k, val] : artifact.config()) v["artifact.config." + k] = val;
    deploy::DeployRequest req;
    req.key = absl::StrCat(pipeline, "/", stage, "/", spec.name());
    req.spec = spec;
    req.artifact = artifact;
    auto* cmd = req.spec.mutable_process()->mutable_command();
    for (auto& arg : *cmd) {
      ASSIGN_OR_RETURN(arg, Resolve(arg, v));
    }
    for (auto& [k, val] : *req.spec.mutable_process()->mutable_env()) {
      ASSIGN_OR_RETURN(val, Resolve(val, v));
    }
    for (auto& [k, val] : *req.spec.mutable_command()->mutable_env()) {
      ASSIGN_OR_RETURN(val, Resolve(val, v));
    }
    req.env = {{"SLIPWAY_PIPELINE", pipeline},
               {"SLIPWAY_STAGE", stage},
               {"SLIPWAY_RESOURCE", spec.name()},
               {"SLIPWAY_RUN_ID", run_id},
               {"SLIPWAY_ARTIFACT_IMAGE", artifact.image()},
               {"SLIPWAY_ARTIFACT_SHA", artifact.sha()},
               {"SLIPWAY_ARTIFACT_VERSION", artifact.version()},
               {"SLIPWAY_TRIGGER_BRANCH", v["trigger.branch"]},
               {"SLIPWAY_TRIGGER_SHA", v["trigger.sha"]}};
    for (const auto& [k, val] : artifact.config()) req.env["SLIPWAY_CONFIG_" + k] = val;
    return req;
  };
  auto driver_for = [this](const v1::Resource& spec) -> deploy::Driver* {
    auto it = deps_.drivers.find(spec.driver());
    return it == deps_.drivers.end() ? nullptr : it->second;
  };
  storage::Database* db = deps_.db;
  const Clock* clock = deps_.clock;

  switch (step.kind_case()) {
    case v1::Step::kSleep: {
      node.set_state(v1::NODE_STATE_WAITING);
      node.set_wake_time(FormatRfc3339(now + DurationOr(step.sleep().duration(), absl::ZeroDuration())));
      Emit(ar, &node, absl::StrCat("sleeping ", step.sleep().duration()));
      return absl::OkStatus();
    }
    case v1::Step::kApproval: {
      node.set_state(v1::NODE_STATE_AWAITING_APPROVAL);
      Emit(ar, &node, absl::StrCat("waiting for ", std::max(1, step.approval().approvals()),
                                   " approval(s)"));
      return absl::OkStatus();
    }
    case v1::Step::kDeploy:
    case v1::Step::kPromote: {
      const std::string& name =
          step.has_deploy() ? step.deploy().resource() : step.promote().resource();
      const v1::Resource* spec = ar.Resource(name);
      if (spec == nullptr) return fail_now(absl::StrCat("unknown resource \"", name, "\""));
      deploy::Driver* driver = driver_for(*spec);
      if (driver == nullptr) {
        return fail_now(absl::StrCat("driver \"", spec->driver(), "\" is not available"));
      }
      v1::Artifact artifact;
      std::string from_stage, from_resource;
      if (step.has_deploy()) {
        const v1::Artifact& a = step.deploy().has_artifact() ? step.deploy().artifact() : spec->artifact();
        if (!resolve_all(a.image(), artifact.mutable_image()) ||
            !resolve_all(a.sha(), artifact.mutable_sha()) ||
            !resolve_all(a.version(), artifact.mutable_version())) {
          return absl::OkStatus();
        }
        for (const auto& [k, val] : a.config()) {
          if (!resolve_all(val, &(*artifact.mutable_config())[k])) return absl::OkStatus();
        }
      } else {
        from_stage = step.promote().from_stage();
        from_resource = step.promote().from_resource().empty() ? name : step.promote().from_resource();
      }
      v1::Resource spec_copy = *spec;
      work = [=]() {
        Completion c;
        v1::Artifact art = artifact;
        if (!from_stage.empty()) {
          std::optional<v1::ResourceState> source;
          absl::Status s = db->Read([&](storage::Transaction& tx) -> absl::Status {
            ASSIGN_OR_RETURN(source, storage::StageResourceRepository().Get(tx, pipeline, from_stage,
                                                                           from_resource));
            return absl::OkStatus();
          });
          if (!s.ok()) {
            c.status = s;
            return c;
          }
          if (!source.has_value()) {
            c.status = absl::FailedPreconditionError(absl::StrCat(
                "stage \"", from_stage, "\" has never deployed \"", from_resource, "\"; nothing to promote"));
            return c;
          }
          art = source->artifact();
          c.log.push_back(absl::StrCat("promoting ", from_stage, "/", from_resource, " (version \"",
                                       art.version(), "\")"));
        }
        auto req = make_request(spec_copy, art);
        if (!req.ok()) {
          c.status = req.status();
          return c;
        }
        auto result = driver->Apply(*req);
        if (!result.ok()) {
          c.status = result.status();
          return c;
        }
        v1::ResourceState state;
        state.set_name(spec_copy.name());
        *state.mutable_spec() = spec_copy;
        *state.mutable_artifact() = art;
        state.set_update_time(FormatRfc3339(clock->Now()));
        state.set_run_id(run_id);
        for (const auto& [k, val] : result->status) (*state.mutable_status())[k] = val;
        c.resource = state;
        c.outputs = {{"image", art.image()}, {"sha", art.sha()}, {"version", art.version()},
                     {"resource", spec_copy.name()}};
        if (result->status.contains("url")) c.outputs["url"] = result->status.at("url");
        c.log.push_back(absl::StrCat("deployed ", spec_copy.name(), " version \"", art.version(), "\""));
        return c;
      };
      break;
    }
    case v1::Step::kRunJob: {
      const v1::Resource* spec = ar.Resource(step.run_job().resource());
      if (spec == nullptr) return fail_now("unknown resource");
      deploy::Driver* driver = driver_for(*spec);
      if (driver == nullptr) {
        return fail_now(absl::StrCat("driver \"", spec->driver(), "\" is not available"));
      }
      std::vector<std::string> args;
      for (const auto& a : step.run_job().args()) {
        std::string r;
        if (!resolve_all(a, &r)) return absl::OkStatus();
        args.push_back(r);
      }
      std::map<std::string, std::string> env;
      for (const auto& [k, val] : step.run_job().env()) {
        if (!resolve_all(val, &env[k])) return absl::OkStatus();
      }
      v1::Resource spec_copy = *spec;
      work = [=]() {
        Completion c;
        auto req = make_request(spec_copy, spec_copy.artifact());
        if (!req.ok()) {
          c.status = req.status();
          return c;
        }
        for (const auto& [k, val] : env) req->env[k] = val;
        auto result = driver->RunJob(*req, args, timeout);
        if (!result.ok()) {
          c.status = result.status();
          return c;
        }
        c.outputs = {{"exit_code", absl::StrCat(result->exit_code)},
                     {"output", Truncate(result->output, kMaxOutputBytes)}};
        if (result->exit_code != 0) {
          c.status = absl::InternalError(absl::StrCat("job exited with status ", result->exit_code));
        }
        return c;
      };
      break;
    }
    case v1::Step::kAwaitCondition: {
      const auto& a = step.await_condition();
      if (a.has_http()) {
        std::string url, path_part;
        if (!resolve_all(a.http().url(), &url) || !resolve_all(a.http().path(), &path_part)) {
          return absl::OkStatus();
        }
        std::string resource = a.http().resource();
        auto expect = a.http().expect_status();
        deploy::HttpClient* http = deps_.http;
        work = [=]() {
          Completion c;
          std::string target = url;
          if (!resource.empty()) {
            std::optional<v1::ResourceState> state;
            absl::Status s = db->Read([&](storage::Transaction& tx) -> absl::Status {
              ASSIGN_OR_RETURN(state, storage::StageResourceRepository().Get(tx, pipeline, stage, resource));
              return absl::OkStatus();
            });
            if (!s.ok()) {
              c.status = s;
              return c;
            }
            if (!state.has_value() || !state->status().contains("url")) {
              c.condition_met = false;
              c.log.push_back(absl::StrCat("resource ", resource, " has no URL yet"));
              return c;
            }
            target = state->status().at("url") + path_part;
          }
          deploy::HttpRequest req;
          req.url = target;
          req.timeout = absl::Seconds(5);
          auto resp = http->Send(req);
          if (!resp.ok()) {
            c.condition_met = false;
            c.log.push_back(absl::StrCat("GET ", target, ": ", resp.status().message()));
          } else if (!StatusExpected(resp->status, expect, 200, 399)) {
            c.condition_met = false;
            c.log.push_back(absl::StrCat("GET ", target, ": ", resp->status));
          } else {
            c.log.push_back(absl::StrCat("GET ", target, ": ", resp->status));
          }
          return c;
        };
      } else {
        const v1::Resource* spec = ar.Resource(a.resource_healthy());
        if (spec == nullptr) return fail_now("unknown resource");
        deploy::Driver* driver = driver_for(*spec);
        if (driver == nullptr) return fail_now("driver not available");
        v1::Resource spec_copy = *spec;
        work = [=]() {
          Completion c;
          auto req = make_request(spec_copy, spec_copy.artifact());
          if (!req.ok()) {
            c.status = req.status();
            return c;
          }
          auto healthy = driver->Healthy(*req);
          c.condition_met = healthy.ok() && *healthy;
          if (!c.condition_met) c.log.push_back(absl::StrCat(spec_copy.name(), " is not healthy yet"));
          return c;
        };
      }
      break;
    }
    case v1::Step::kHttpRequest:
    case v1::Step::kMessage: {
      deploy::HttpRequest req;
      google::protobuf::RepeatedField<int32_t> expect;
      if (step.has_http_request()) {
        const auto& h = step.http_request();
        req.method = h.method().empty() ? "POST" : h.method();
        if (!resolve_all(h.url(), &req.url) || !resolve_all(h.body(), &req.body)) {
          return absl::OkStatus();
        }
        for (const auto& [k, val] : h.headers()) {
          if (!resolve_all(val, &req.headers[k])) return absl::OkStatus();
        }
        if (h.has_signing_secret()) {
          auto secret = pipeline::ResolveSecret(h.signing_secret());
          if (!secret.ok()) return fail_now(std::string(secret.status().message()));
          req.headers["X-Slipway-Signature-256"] = "sha256=" + HmacSha256Hex(*secret, req.body);
        }
        if (h.has_bearer_token()) {
          auto token = pipeline::ResolveSecret(h.bearer_token());
          if (!token.ok()) return fail_now(std::string(token.status().message()));
          req.headers["Authorization"] = "Bearer " + *token;
        }
        expect = h.expect_status();
      } else {
        std::string text;
        if (!resolve_all(step.message().url(), &req.url) || !resolve_all(step.message().text(), &text)) {
          return absl::OkStatus();
        }
        req.method = "POST";
        req.headers["Content-Type"] = "application/json";
        req.body = nlohmann::json{{"text", text}}.dump();
      }
      req.timeout = std::min(timeout, absl::Seconds(60));
      deploy::HttpClient* http = deps_.http;
      work = [=]() {
        Completion c;
        auto resp = http->Send(req);
        if (!resp.ok()) {
          c.status = resp.status();
          return c;
        }
        c.outputs = {{"status", absl::StrCat(resp->status)},
                     {"body", Truncate(resp->body, kMaxOutputBytes)}};
        c.log.push_back(absl::StrCat(req.method, " ", req.url, ": ", resp->status));
        if (!StatusExpected(resp->status, expect, 200, 299)) {
          c.status = absl::InternalError(absl::StrCat(req.method, " ", req.url, " answered ", resp->status));
        }
        return c;
      };
      break;
    }
    default:
      return fail_now("unsupported node kind");
  }

  Emit(ar, &node, absl::StrCat("attempt ", attempt, " started"));
  ++ar.in_flight;
  if (step.has_wait_for_completion() && !step.wait_for_completion()) {
    node.set_state(v1::NODE_STATE_SUCCEEDED);
    node.set_end_time(Now());
    Emit(ar, &node, "not waiting for completion");
  }
  pending_tasks_.push_back([this, work, run_id, path, attempt]() {
    Completion c = work();
    c.run_id = run_id;
    c.path = path;
    c.attempt = attempt;
    absl::MutexLock lock(&completions_mu_);
    completions_.push_back(std::move(c));
    work_ = true;
  });
  return absl::OkStatus();
}

void Executor::FailAttempt(ActiveRun& ar, v1::NodeStatus& node, const v1::Step& step,
                           const std::string& error) {
  int max_attempts = std::max(1, step.retry().max_attempts());
  node.set_error(error);
  if (node.attempts() < max_attempts && ar.run.state() != v1::RUN_STATE_CANCELLING) {
    absl::Duration backoff = DurationOr(step.retry().backoff(), kDefaultBackoff);
    for (int i = 1; i < node.attempts(); ++i) backoff *= 2;
    backoff = std::min(backoff, absl::Hours(1));
    node.set_state(v1::NODE_STATE_WAITING);
    node.set_wake_time(FormatRfc3339(deps_.clock->Now() + backoff));
    Emit(ar, &node, absl::StrCat("attempt ", node.attempts(), " failed: ", error, "; retrying in ",
                                 absl::FormatDuration(backoff)));
  } else {
    node.set_state(v1::NODE_STATE_FAILED);
    node.set_end_time(Now());
    Emit(ar, &node, absl::StrCat("attempt ", node.attempts(), " failed: ", error));
  }
}

v1::NodeState Executor::AdvanceStep(ActiveRun& ar, const v1::Step& step, const std::string& path) {
  if (step.has_sequential()) return AdvanceGroup(ar, step.sequential(), path + ".sequential", false);
  if (step.has_parallel()) return AdvanceGroup(ar, step.parallel(), path + ".parallel", true);
  v1::NodeStatus* node = ar.Node(path);
  if (node == nullptr) return v1::NODE_STATE_FAILED;
  const absl::Time now = deps_.clock->Now();
  const bool cancelling = ar.run.state() == v1::RUN_STATE_CANCELLING;
  auto parse = [](const std::string& t) {
    absl::Time out = absl::InfinitePast();
    std::string err;
    absl::ParseTime(absl::RFC3339_full, t, &out, &err);
    return out;
  };
  // A cancelled run starts nothing new and stops waiting; running work finishes on its own.
  auto cancel_node = [&] {
    node->set_state(v1::NODE_STATE_CANCELLED);
    node->set_end_time(Now());
    Emit(ar, node);
    return v1::NODE_STATE_FAILED;
  };
  switch (node->state()) {
    case v1::NODE_STATE_PENDING:
      if (cancelling) return cancel_node();
      StartNode(ar, *node, step).IgnoreError();
      break;
    case v1::NODE_STATE_RUNNING:
      if (!node->deadline().empty() && now >= parse(node->deadline())) {
        FailAttempt(ar, *node, step,
                    absl::StrCat("timed out after ", step.timeout().empty() ? "10m" : step.timeout()));
      }
      break;
    case v1::NODE_STATE_WAITING:
      if (cancelling) return cancel_node();
      if (now >= parse(node->wake_time())) {
        if (step.has_sleep()) {
          node->set_state(v1::NODE_STATE_SUCCEEDED);
          node->set_end_time(Now());
          node->clear_wake_time();
          Emit(ar, node, "slept");
        } else if (step.has_await_condition() && !node->deadline().empty() &&
                   node->attempts() > 0 && node->error().empty()) {
          if (now >= parse(node->deadline())) {
            FailAttempt(ar, *node, step,
                        absl::StrCat("condition not met within ",
                                     step.timeout().empty() ? "10m" : step.timeout()));
          } else {
            // The next check of a condition: same attempt, same deadline.
            std::string deadline = node->deadline();
            node->set_attempts(node->attempts() - 1);
            StartNode(ar, *node, step).IgnoreError();
            if (node->state() == v1::NODE_STATE_RUNNING) node->set_deadline(deadline);
          }
        } else {
          StartNode(ar, *node, step).IgnoreError();
        }
      }
      break;
    case v1::NODE_STATE_AWAITING_APPROVAL:
      if (cancelling) return cancel_node();
      break;
    default:
      break;
  }
  switch (node->state()) {
    case v1::NODE_STATE_SUCCEEDED:
    case v1::NODE_STATE_SKIPPED:
      return v1::NODE_STATE_SUCCEEDED;
    case v1::NODE_STATE_FAILED:
    case v1::NODE_STATE_CANCELLED:
      return v1::NODE_STATE_FAILED;
    default:
      return v1::NODE_STATE_RUNNING;
  }
}

v1::NodeState Executor::AdvanceGroup(ActiveRun& ar, const v1::Steps& steps,
                                     const std::string& path, bool parallel) {
  bool running = false, failed = false;
  for (int i = 0; i < steps.steps_size(); ++i) {
    v1::NodeState s = AdvanceStep(ar, steps.steps(i), absl::StrCat(path, "[", i, "]"));
    if (s == v1::NODE_STATE_RUNNING) {
      if (!parallel) return s;
      running = true;
    } else if (s == v1::NODE_STATE_FAILED) {
      if (!parallel) return s;
      failed = true;
    }
  }
  if (running) return v1::NODE_STATE_RUNNING;
  return failed ? v1::NODE_STATE_FAILED : v1::NODE_STATE_SUCCEEDED;
}

void Executor::AdvanceRun(ActiveRun& ar) {
  if (ar.ended || ar.run.state() == v1::RUN_STATE_QUEUED) return;
  if (ar.run.state() == v1::RUN_STATE_PENDING) {
    ar.run.set_state(v1::RUN_STATE_RUNNING);
    ar.run.set_start_time(Now());
    ar.run.clear_waiting_reason();
    Emit(ar, nullptr, "running");
  }
  const v1::Flow& flow = ar.run.stage_spec().flow();
  v1::NodeState st = flow.has_sequential() ? AdvanceGroup(ar, flow.sequential(), "sequential", false)
                     : flow.has_parallel() ? AdvanceGroup(ar, flow.parallel(), "parallel", true)
                                           : v1::NODE_STATE_SUCCEEDED;
  if (ar.run.state() == v1::RUN_STATE_CANCELLING) {
    if (st != v1::NODE_STATE_RUNNING || ar.in_flight == 0) {
      bool still_running = false;
      for (const auto& n : ar.run.nodes()) {
        if (n.state() == v1::NODE_STATE_RUNNING) still_running = ar.in_flight > 0;
      }
      if (!still_running) FinishRun(ar, v1::RUN_STATE_CANCELLED, ar.run.error());
    }
    return;
  }
  if (st == v1::NODE_STATE_SUCCEEDED) {
    FinishRun(ar, v1::RUN_STATE_SUCCEEDED, "");
    return;
  }
  if (st == v1::NODE_STATE_FAILED) {
    // Every failed node is named: a rollback of several resources says which did not apply.
    std::vector<std::string> failures;
    for (const auto& n : ar.run.nodes()) {
      if (n.state() == v1::NODE_STATE_FAILED) {
        failures.push_back(absl::StrCat("node \"", n.ref(), "\" failed: ", n.error()));
      }
    }
    std::string error = absl::StrJoin(failures, "; ");
    // Parallel siblings may still be running; the run ends when they are done.
    bool running = false;
    for (const auto& n : ar.run.nodes()) {
      if (n.state() == v1::NODE_STATE_RUNNING || n.state() == v1::NODE_STATE_WAITING) running = true;
    }
    if (!running) FinishRun(ar, v1::RUN_STATE_FAILED, error);
    return;
  }
  bool awaiting = false, busy = false;
  for (const auto& n : ar.run.nodes()) {
    if (n.state() == v1::NODE_STATE_AWAITING_APPROVAL) awaiting = true;
    if (n.state() == v1::NODE_STATE_RUNNING || n.state() == v1::NODE_STATE_WAITING) busy = true;
  }
  v1::RunState want = awaiting && !busy ? v1::RUN_STATE_AWAITING_APPROVAL : v1::RUN_STATE_RUNNING;
  if (want != ar.run.state()) {
    ar.run.set_state(want);
    Emit(ar, nullptr, want == v1::RUN_STATE_AWAITING_APPROVAL ? "waiting for approval" : "running");
  }
}

void Executor::FinishRun(ActiveRun& ar, v1::RunState state, const std::string& error) {
  ar.run.set_state(state);
  ar.run.set_end_time(Now());
  if (!error.empty()) ar.run.set_error(error);
  ar.run.clear_waiting_reason();
  for (auto& n : *ar.run.mutable_nodes()) {
    if (n.state() == v1::NODE_STATE_PENDING || n.state() == v1::NODE_STATE_WAITING ||
        n.state() == v1::NODE_STATE_AWAITING_APPROVAL) {
      n.set_state(state == v1::RUN_STATE_CANCELLED ? v1::NODE_STATE_CANCELLED
                                                   : v1::NODE_STATE_SKIPPED);
    }
  }
  ar.ended = true;
  ended_.insert(ar.run.id());
  promote_stages_.insert({ar.run.pipeline(), ar.run.stage()});
  bool changed = false;
  for (const auto& n : ar.run.nodes()) {
    const v1::Step* step = ar.steps[n.path()];
    if (n.state() == v1::NODE_STATE_SUCCEEDED && (step->has_deploy() || step->has_promote())) {
      changed = true;
    }
  }
  if (state == v1::RUN_STATE_SUCCEEDED && ar.run.kind() == v1::RUN_KIND_ROLLBACK) {
    // A successful rollback holds the stage on the release it records (pinned at commit).
    v1::StageHold hold;
    hold.set_pipeline(ar.run.pipeline());
    hold.set_stage(ar.run.stage());
    hold.set_reason(ar.run.trigger().reason());
    hold.set_held_by(ar.run.trigger().actor());
    hold.set_run_id(ar.run.id());
    pending_holds_[ar.run.id()] = std::move(hold);
  }
  // Preview runs leave no release: a preview's history is its runs.
  if (state == v1::RUN_STATE_SUCCEEDED && changed && ar.run.kind() != v1::RUN_KIND_PREVIEW &&
      ar.run.kind() != v1::RUN_KIND_PREVIEW_TEARDOWN) {
    v1::Release release;
    release.set_pipeline(ar.run.pipeline());
    release.set_stage(ar.run.stage());
    release.set_run_id(ar.run.id());
    *release.mutable_trigger() = ar.run.trigger();
    release.set_pipeline_revision(ar.run.pipeline_revision());
    release.set_create_time(Now());
    release.set_rollback_of(ar.run.rollback_to());
    pending_releases_.push_back(std::move(release));
  }
  Emit(ar, nullptr, absl::StrCat("run ", EnumShortName(v1::RunState_descriptor()->FindValueByNumber(state)),
                                 error.empty() ? "" : ": " + error));
}

void Executor::PromoteQueued() {
  std::set<std::pair<std::string, std::string>> stages;
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
      if (next == nullptr || ar->run.create_time() < next->run.create_time() ||
          (ar->run.create_time() == next->run.create_time() && ar->run.last_event() == 0)) {
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
  auto key = std::make_pair(ar.run.pipeline(), ar.run.stage());
  auto stage = by_stage_.find(key);
  if (stage != by_stage_.end()) {
    stage->second.erase(it->first);
    if (stage->second.empty()) by_stage_.erase(stage);
  }
  if (ar.due != absl::InfiniteFuture()) timers_.erase({ar.due, it->first});
  ready_.erase(it->first);
  return active_.erase(it);
}

void Executor::UpdateTimer(ActiveRun& ar) {
  absl::Time due = absl::InfiniteFuture();
  if (!ar.ended) {
    for (const auto& n : ar.run.nodes()) {
      const std::string* t = nullptr;
      if (n.state() == v1::NODE_STATE_WAITING) t = &n.wake_time();
      if (n.state() == v1::NODE_STATE_RUNNING) t = &n.deadline();
      if (t == nullptr || t->empty()) continue;
      absl::Time when;
      std::string err;
      if (absl::ParseTime(absl::RFC3339_full, *t, &when, &err) && when < due) due = when;
    }
  }
  if (due == ar.due) return;
  if (ar.due != absl::InfiniteFuture()) timers_.erase({ar.due, ar.run.id()});
  if (due != absl::InfiniteFuture()) timers_.insert({due, ar.run.id()});
  ar.due = due;
}

void Executor::ApplyCompletion(Completion& c) {
  auto it = active_.find(c.run_id);
  if (it == active_.end()) return;
  ActiveRun& ar = *it->second;
  ar.in_flight = std::max(0, ar.in_flight - 1);
  ready_.insert(c.run_id);
  if (c.resource.has_value() && c.status.ok()) {
    // The workload changed whatever happens to the node now: record it truthfully.
    pending_resources_.push_back({ar.run.pipeline() + "\n" + ar.run.stage(), *c.resource});
  }
  v1::NodeStatus* node = ar.Node(c.path);
  if (node == nullptr || ar.ended) return;
  for (const auto& line : c.log) {
    node->add_log(line);
    if (node->log_size() > kMaxLogLines) node->mutable_log()->DeleteSubrange(0, 1);
  }
  if (node->attempts() != c.attempt || node->state() != v1::NODE_STATE_RUNNING) {
    if (!c.log.empty()) Emit(ar, node, c.log.back());
    return;  // a late result of an attempt that timed out or was cancelled
  }
  const v1::Step& step = *ar.steps[c.path];
  if (!c.status.ok()) {
    for (const auto& [k, v] : c.outputs) (*node->mutable_outputs())[k] = v;
    FailAttempt(ar, *node, step, std::string(c.status.message()));
    return;
  }
  if (!c.condition_met) {
    absl::Time deadline = absl::InfinitePast();
    std::string err;
    absl::ParseTime(absl::RFC3339_full, node->deadline(), &deadline, &err);
    if (deps_.clock->Now() >= deadline) {
      FailAttempt(ar, *node, step,
                  absl::StrCat("condition not met within ",
                               step.timeout().empty() ? "10m" : step.timeout()));
      return;
    }
    node->set_state(v1::NODE_STATE_WAITING);
    node->set_wake_time(FormatRfc3339(
        deps_.clock->Now() + DurationOr(step.await_condition().interval(), kDefaultInterval)));
    Emit(ar, node, c.log.empty() ? "condition not met yet" : c.log.back());
    return;
  }
  node->set_state(v1::NODE_STATE_SUCCEEDED);
  node->set_end_time(Now());
  node->clear_error();
  node->clear_wake_time();
  for (const auto& [k, v] : c.outputs) (*node->mutable_outputs())[k] = v;
  Emit(ar, node, c.log.empty() ? "succeeded" : c.log.back());
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

absl::Status Executor::Commit(
    const std::function<absl::Status(storage::Transaction&)>& extra) {
  // One commit at a time, in order; the lock is released while the store writes, so starts,
  // cancels and approvals are not held up by the fsync.
  mu_.Await(absl::Condition(
      +[](bool* committing) { return !*committing; }, &committing_));
  if (dirty_runs_.empty() && pending_resources_.empty() && pending_releases_.empty() &&
      extra == nullptr) {
    DropEndedRuns();  // e.g. the last late result of an ended run, with nothing to record
    return absl::OkStatus();
  }
  // Runs whose first state Start is still writing are written by a later commit.
  auto is_starting = [&](const std::string& run_id) {
    auto it = active_.find(run_id);
    return it != active_.end() && it->second->starting;
  };
  std::vector<std::string> deferred_runs, ids;
  std::vector<v1::RunEvent> deferred_events, events;
  for (std::string& id : dirty_runs_) {
    (is_starting(id) ? deferred_runs : ids).push_back(std::move(id));
  }
  for (v1::RunEvent& e : pending_events_) {
    (is_starting(e.run_id()) ? deferred_events : events).push_back(std::move(e));
  }
  dirty_runs_ = std::move(deferred_runs);
  pending_events_ = std::move(deferred_events);
  if (ids.empty() && events.empty() && pending_resources_.empty() && pending_releases_.empty() &&
      extra == nullptr) {
    DropEndedRuns();
    return absl::OkStatus();
  }
  // What this commit writes, taken out of the pending state.
  std::map<std::string, v1::Run> runs;
  for (const std::string& id : ids) {
    auto it = active_.find(id);
    if (it == active_.end()) continue;
    runs[id] = it->second->run;
    it->second->dirty = false;  // a change made while this commit writes lists it again
  }
  std::vector<std::pair<std::string, v1::ResourceState>> resources;
  resources.swap(pending_resources_);
  std::vector<v1::Release> releases;
  releases.swap(pending_releases_);
  std::map<std::string, v1::StageHold> holds;
  holds.swap(pending_holds_);
  std::vector<std::function<void()>> tasks;
  tasks.swap(pending_tasks_);
  const std::string now = Now();

  committing_ = true;
  mu_.Unlock();
  std::map<std::string, int64_t> release_numbers;
  absl::Status s = deps_.db->Write([&](storage::Transaction& tx) -> absl::Status {
    release_numbers.clear();
    for (const auto& [scope, state] : resources) {
      size_t nl = scope.find('\n');
      RETURN_IF_ERROR(resources_repo_.Put(tx, scope.substr(0, nl), scope.substr(nl + 1), state));
    }
    for (v1::Release release : releases) {
      ASSIGN_OR_RETURN(auto current,
                       resources_repo_.List(tx, release.pipeline(), release.stage()));
      for (auto& r : current) *release.add_resources() = std::move(r);
      ASSIGN_OR_RETURN(int64_t number, releases_repo_.Insert(tx, release));
      release_numbers[release.run_id()] = number;
      if (auto hold = holds.find(release.run_id()); hold != holds.end()) {
        v1::StageHold h = hold->second;
        h.set_pinned_release(number);
        h.set_hold_time(now);
        RETURN_IF_ERROR(storage::StageHoldRepository().Put(tx, h));
      }
    }
    for (auto& [id, run] : runs) {
      v1::Run written = run;
      if (auto n = release_numbers.find(id); n != release_numbers.end()) {
        written.set_release(n->second);
      }
      absl::Status updated = runs_repo_.Update(tx, written);
      if (absl::IsNotFound(updated)) {
        RETURN_IF_ERROR(runs_repo_.Insert(tx, written).status());
      } else {
        RETURN_IF_ERROR(updated);
      }
    }
    for (const v1::RunEvent& e : events) RETURN_IF_ERROR(runs_repo_.AppendEvent(tx, e));
    if (extra != nullptr) RETURN_IF_ERROR(extra(tx));
    return absl::OkStatus();
  });
  mu_.Lock();
  committing_ = false;
  if (!s.ok()) {
    // Everything stays pending and is retried next time (events ahead of those added meanwhile).
    for (const std::string& id : ids) {
      auto it = active_.find(id);
      if (it == active_.end() || it->second->dirty) continue;  // gone, or listed again already
      it->second->dirty = true;
      dirty_runs_.push_back(id);
    }
    events.insert(events.end(), std::make_move_iterator(pending_events_.begin()),
                  std::make_move_iterator(pending_events_.end()));
    pending_events_ = std::move(events);
    resources.insert(resources.end(), pending_resources_.begin(), pending_resources_.end());
    pending_resources_ = std::move(resources);
    releases.insert(releases.end(), pending_releases_.begin(), pending_releases_.end());
    pending_releases_ = std::move(releases);
    holds.insert(pending_holds_.begin(), pending_holds_.end());
    pending_holds_ = std::move(holds);
    tasks.insert(tasks.end(), std::make_move_iterator(pending_tasks_.begin()),
                 std::make_move_iterator(pending_tasks_.end()));
    pending_tasks_ = std::move(tasks);
    return s;
  }
  for (const auto& [run_id, number] : release_numbers) {
    auto it = active_.find(run_id);
    if (it != active_.end()) it->second->run.set_release(number);
  }
  for (const v1::RunEvent& e : events) {
    committed_events_[e.run_id()] = std::max(committed_events_[e.run_id()], e.sequence());
  }
  DropEndedRuns();
  // Effects start only after the state that announces them is on disk.
  for (auto& t : tasks) deps_.tasks->Post(std::move(t));
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
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = committed_events_.find(run_id);
    return (it != committed_events_.end() && it->second > after) ||
           !active_.contains(run_id);
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
