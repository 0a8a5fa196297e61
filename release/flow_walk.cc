// Advancing runs: the walk over a run's flow (sequential and parallel groups, nested), the
// start of each node's attempts through its node kind, timeouts, retries with backoff, the
// results of finished attempts, and the end of a run.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/proto_time.h"
#include "common/proto_yaml.h"
#include "release/active_run.h"
#include "release/nodes/support.h"
#include "release/recording.h"

namespace slipway::release {
namespace {

// A step without a timeout gets this one.
constexpr absl::Duration kDefaultTimeout = absl::Minutes(10);
// Retries wait this long after the first failure, doubling (steps can say otherwise).
constexpr absl::Duration kDefaultBackoff = absl::Seconds(1);
// Conditions are checked this often unless the step says otherwise.
constexpr absl::Duration kDefaultInterval = absl::Seconds(2);
// A node keeps its last this many log lines.
constexpr int kMaxLogLines = 50;

// The step's timeout, or the default's.
std::string TimeoutText(const v1::Step& step) {
  return absl::FormatDuration(DurationOr(step.timeout(), kDefaultTimeout));
}

}  // namespace

void Executor::StartNode(ActiveRun& ar, v1::NodeStatus& node, const v1::Step& step) {
  const absl::Time now = deps_.clock->Now();
  node.set_attempts(node.attempts() + 1);
  if (!node.has_start_time()) *node.mutable_start_time() = Now();
  node.clear_wake_time();
  node.clear_error();
  const std::map<std::string, std::string> values = Values(ar);
  auto fail = [&](const std::string& error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    node.set_state(v1::NODE_STATE_FAILED);
    node.set_error(error);
    *node.mutable_end_time() = Now();
    Emit(ar, &node);
  };
  if (!step.skip_if().empty()) {
    auto skip = Resolve(step.skip_if(), values);
    if (!skip.ok()) return fail(absl::StrCat("skip_if: ", skip.status().message()));
    if (*skip == "true") {
      node.set_state(v1::NODE_STATE_SKIPPED);
      *node.mutable_end_time() = Now();
      Emit(ar, &node, "skipped: skip_if is true");
      return;
    }
  }
  const absl::Duration timeout = DurationOr(step.timeout(), kDefaultTimeout);
  *node.mutable_deadline() = ProtoTime(now + timeout);
  node.set_state(v1::NODE_STATE_RUNNING);
  auto kind = deps_.node_kinds.find(step.kind_case());
  if (kind == deps_.node_kinds.end()) return fail("unsupported node kind");
  NodeContext ctx{ar.run,        step,     values,      now,       timeout,
                  deps_.drivers, deps_.db, deps_.clock, deps_.http};
  NodeStart start = kind->second->Start(ctx);
  switch (start.kind) {
    case NodeStart::Kind::kFail:
      return fail(start.error);
    case NodeStart::Kind::kWait:
      node.set_state(v1::NODE_STATE_WAITING);
      *node.mutable_wake_time() = ProtoTime(start.wake);
      Emit(ar, &node, start.log);
      return;
    case NodeStart::Kind::kAwaitApproval:
      node.set_state(v1::NODE_STATE_AWAITING_APPROVAL);
      Emit(ar, &node, start.log);
      return;
    case NodeStart::Kind::kWork:
      break;
  }
  const int attempt = node.attempts();
  Emit(ar, &node, absl::StrCat("attempt ", attempt, " started"));
  ++ar.in_flight;
  if (step.has_wait_for_completion() && !step.wait_for_completion()) {
    node.set_state(v1::NODE_STATE_SUCCEEDED);
    *node.mutable_end_time() = Now();
    Emit(ar, &node, "not waiting for completion");
  }
  // Posted after the RUNNING state is committed.
  journal_.AddTask(
      [this, work = std::move(start.work), run_id = ar.run.id(), path = node.path(), attempt]() {
        Completion c{run_id, path, attempt, work()};
        absl::MutexLock lock(&completions_mu_);
        completions_.push_back(std::move(c));
        work_ = true;
      });
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
    *node.mutable_wake_time() = ProtoTime(deps_.clock->Now() + backoff);
    Emit(ar, &node,
         absl::StrCat("attempt ", node.attempts(), " failed: ", error, "; retrying in ",
                      absl::FormatDuration(backoff)));
  } else {
    node.set_state(v1::NODE_STATE_FAILED);
    *node.mutable_end_time() = Now();
    Emit(ar, &node, absl::StrCat("attempt ", node.attempts(), " failed: ", error));
  }
}

v1::NodeState Executor::AdvanceStep(ActiveRun& ar, const v1::Step& step, const std::string& path) {
  if (step.has_sequential())
    return AdvanceGroup(ar, step.sequential(), path + ".sequential", false);
  if (step.has_parallel()) return AdvanceGroup(ar, step.parallel(), path + ".parallel", true);
  v1::NodeStatus* node = ar.Node(path);
  if (node == nullptr) return v1::NODE_STATE_FAILED;
  const absl::Time now = deps_.clock->Now();
  const bool cancelling = ar.run.state() == v1::RUN_STATE_CANCELLING;
  // An unreadable time is due now.
  auto parse = [](const google::protobuf::Timestamp& t) {
    return TimeFromProto(t).value_or(absl::InfinitePast());
  };
  // A cancelled run starts nothing new and stops waiting; running work finishes on its own.
  auto cancel_node = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    node->set_state(v1::NODE_STATE_CANCELLED);
    *node->mutable_end_time() = Now();
    Emit(ar, node);
    return v1::NODE_STATE_FAILED;
  };
  switch (node->state()) {
    case v1::NODE_STATE_PENDING:
      if (cancelling) return cancel_node();
      StartNode(ar, *node, step);
      break;
    case v1::NODE_STATE_RUNNING:
      if (node->has_deadline() && now >= parse(node->deadline())) {
        FailAttempt(ar, *node, step, absl::StrCat("timed out after ", TimeoutText(step)));
      }
      break;
    case v1::NODE_STATE_WAITING:
      if (cancelling) return cancel_node();
      if (now >= parse(node->wake_time())) {
        if (step.has_sleep()) {
          node->set_state(v1::NODE_STATE_SUCCEEDED);
          *node->mutable_end_time() = Now();
          node->clear_wake_time();
          Emit(ar, node, "slept");
        } else if (step.has_await_condition() && node->has_deadline() && node->attempts() > 0 &&
                   node->error().empty()) {
          if (now >= parse(node->deadline())) {
            FailAttempt(ar, *node, step,
                        absl::StrCat("condition not met within ", TimeoutText(step)));
          } else {
            // The next check of a condition: same attempt, same deadline.
            google::protobuf::Timestamp deadline = node->deadline();
            node->set_attempts(node->attempts() - 1);
            StartNode(ar, *node, step);
            if (node->state() == v1::NODE_STATE_RUNNING) *node->mutable_deadline() = deadline;
          }
        } else {
          StartNode(ar, *node, step);
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

v1::NodeState Executor::AdvanceGroup(ActiveRun& ar, const v1::Steps& steps, const std::string& path,
                                     bool parallel) {
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
    *ar.run.mutable_start_time() = Now();
    ar.run.clear_waiting_reason();
    Emit(ar, nullptr, "running");
  }
  const v1::Flow& flow = ar.run.stage_spec().flow();
  v1::NodeState st = flow.has_sequential()
                         ? AdvanceGroup(ar, flow.sequential(), "sequential", false)
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
      if (n.state() == v1::NODE_STATE_RUNNING || n.state() == v1::NODE_STATE_WAITING)
        running = true;
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
  *ar.run.mutable_end_time() = Now();
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
  // A successful rollback holds the stage on the release it records (pinned at commit).
  if (auto hold = HoldAfter(ar.run); hold.has_value()) journal_.AddHold(ar.run.id(), *hold);
  if (auto release = ReleaseOf(ar.run, changed, Now()); release.has_value()) {
    journal_.AddRelease(*std::move(release));
  }
  Emit(ar, nullptr,
       absl::StrCat("run ", EnumShortName(v1::RunState_descriptor()->FindValueByNumber(state)),
                    error.empty() ? "" : ": " + error));
}

void Executor::ApplyCompletion(Completion& c) {
  auto it = active_.find(c.run_id);
  if (it == active_.end()) return;
  ActiveRun& ar = *it->second;
  ar.in_flight = std::max(0, ar.in_flight - 1);
  ready_.insert(c.run_id);
  NodeResult& r = c.result;
  if (r.resource.has_value() && r.status.ok()) {
    // The workload changed whatever happens to the node now: record it truthfully.
    journal_.AddResource({ar.run.pipeline(), ar.run.stage()}, *r.resource);
  }
  v1::NodeStatus* node = ar.Node(c.path);
  if (node == nullptr || ar.ended) return;
  for (const auto& line : r.log) {
    node->add_log(line);
    if (node->log_size() > kMaxLogLines) node->mutable_log()->DeleteSubrange(0, 1);
  }
  if (node->attempts() != c.attempt || node->state() != v1::NODE_STATE_RUNNING) {
    if (!r.log.empty()) Emit(ar, node, r.log.back());
    return;  // a late result of an attempt that timed out or was cancelled
  }
  const v1::Step& step = *ar.steps[c.path];
  if (!r.status.ok()) {
    for (const auto& [k, v] : r.outputs) (*node->mutable_outputs())[k] = v;
    FailAttempt(ar, *node, step, std::string(r.status.message()));
    return;
  }
  if (!r.condition_met) {
    absl::Time deadline = TimeFromProto(node->deadline()).value_or(absl::InfinitePast());
    if (deps_.clock->Now() >= deadline) {
      FailAttempt(ar, *node, step, absl::StrCat("condition not met within ", TimeoutText(step)));
      return;
    }
    node->set_state(v1::NODE_STATE_WAITING);
    *node->mutable_wake_time() = ProtoTime(
        deps_.clock->Now() + DurationOr(step.await_condition().interval(), kDefaultInterval));
    Emit(ar, node, r.log.empty() ? "condition not met yet" : r.log.back());
    return;
  }
  node->set_state(v1::NODE_STATE_SUCCEEDED);
  *node->mutable_end_time() = Now();
  node->clear_error();
  node->clear_wake_time();
  for (const auto& [k, v] : r.outputs) (*node->mutable_outputs())[k] = v;
  Emit(ar, node, r.log.empty() ? "succeeded" : r.log.back());
}

}  // namespace slipway::release
