// The lifecycle of a preview: creating or updating it (Upsert), the step that brings it to
// the state it should be in through executor runs and driver tasks (Step), teardown, and the
// Tick that steps the previews with work.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/run_state.h"
#include "common/status_macros.h"
#include "preview/budget.h"
#include "preview/matching.h"
#include "preview/naming.h"
#include "preview/preview_manager.h"
#include "storage/preview_repository.h"
#include "storage/run_repository.h"

namespace slipway::preview {
namespace {

constexpr int kMaxRunsKept = 20;

absl::Time ParseTime(const google::protobuf::Timestamp& t) {
  return TimeFromProto(t).value_or(absl::InfiniteFuture());
}

// The flow of a create or update run: deploy every service (and wait for its health check),
// then the blueprint's own flow.
v1::Stage RunStage(const v1::PreviewBlueprint& b, const PreviewOptions& options) {
  v1::Stage stage;
  stage.set_name(b.name());
  *stage.mutable_resources() = b.resources();
  auto* steps = stage.mutable_flow()->mutable_sequential()->mutable_steps();
  for (const auto& r : b.resources()) {
    if (r.kind() == v1::RESOURCE_KIND_JOB) continue;
    v1::Step* deploy = steps->Add();
    deploy->set_ref("deploy-" + r.name());
    deploy->mutable_deploy()->set_resource(r.name());
    deploy->mutable_deploy()->mutable_artifact()->set_sha("${trigger.sha}");
    deploy->mutable_deploy()->mutable_artifact()->set_version("${trigger.sha}");
    bool has_health = r.has_process() && !r.process().health().http_path().empty();
    if (has_health) {
      v1::Step* ready = steps->Add();
      ready->set_ref("ready-" + r.name());
      *ready->mutable_timeout() = ProtoDuration(options.health_timeout);
      ready->mutable_await_condition()->set_resource_healthy(r.name());
      *ready->mutable_await_condition()->mutable_interval() =
          ProtoDuration(options.health_interval);
    }
  }
  if (b.flow().has_sequential()) {
    for (const auto& s : b.flow().sequential().steps()) *steps->Add() = s;
  } else if (b.flow().has_parallel()) {
    *steps->Add()->mutable_parallel() = b.flow().parallel();
  }
  return stage;
}

v1::TriggerInfo TriggerOf(const v1::Preview& p, const std::string& reason) {
  v1::TriggerInfo t;
  t.set_event("preview");
  t.set_source(p.subject().source());
  t.set_branch(p.subject().branch());
  t.set_sha(p.subject().sha());
  if (p.subject().pull_request() > 0) {
    t.set_pull_request(absl::StrCat(p.subject().pull_request()));
  }
  t.set_actor(p.actor());
  t.set_reason(reason);
  return t;
}

}  // namespace

absl::StatusOr<std::pair<v1::Preview, PreviewManager::Outcome>> PreviewManager::Upsert(
    const v1::Pipeline& pipeline, const v1::PreviewBlueprint& blueprint, const std::string& key,
    const v1::PreviewSubject& subject, const std::map<std::string, std::string>& args,
    const std::string& actor) {
  const absl::Time now = deps_.clock->Now();
  const absl::Duration ttl = DurationFromProto(blueprint.lifetime().ttl());
  if (const v1::Preview* existing = live_.BySubject(pipeline.name(), blueprint.name(), key)) {
    v1::Preview p = *existing;
    switch (p.state()) {
      case v1::PREVIEW_STATE_TEARING_DOWN:
        // Reopened (or pushed again) while it is removed: a new preview follows.
        *p.mutable_recreate() = subject;
        RETURN_IF_ERROR(Save(p));
        return std::make_pair(p, Outcome::kQueued);
      case v1::PREVIEW_STATE_TEARDOWN_FAILED:
        return absl::FailedPreconditionError(
            absl::StrCat("preview ", p.name(), " failed to tear down (", p.message(),
                         "); delete it (--skip-teardown) before a new one can be created"));
      default:
        break;
    }
    const bool same =
        p.subject().sha() == subject.sha() &&
        (p.state() == v1::PREVIEW_STATE_READY || p.state() == v1::PREVIEW_STATE_CREATING ||
         p.state() == v1::PREVIEW_STATE_UPDATING);
    if (same && args.empty()) return std::make_pair(p, Outcome::kUnchanged);
    *p.mutable_subject() = subject;
    for (const auto& [k, v] : args) (*p.mutable_args())[k] = v;
    *p.mutable_spec() = blueprint;
    p.set_actor(actor);
    if (blueprint.lifetime().reset_on_update() && ttl > absl::ZeroDuration()) {
      *p.mutable_expire_time() = ProtoTime(now + ttl);
    }
    if (p.state() == v1::PREVIEW_STATE_PAUSED || p.state() == v1::PREVIEW_STATE_QUEUED) {
      // Applied on resume, or when a slot frees.
      RETURN_IF_ERROR(Save(p));
      return std::make_pair(p, Outcome::kUnchanged);
    }
    // A newer commit supersedes an update still in progress (the run is replaced).
    p.set_generation(p.generation() + 1);
    p.clear_run_id();
    p.set_state(p.state() == v1::PREVIEW_STATE_CREATING ? v1::PREVIEW_STATE_CREATING
                                                        : v1::PREVIEW_STATE_UPDATING);
    p.set_message(absl::StrCat("updating to ", subject.sha()));
    RETURN_IF_ERROR(Save(p));
    return std::make_pair(p, Outcome::kUpdated);
  }

  // A new preview: within the budget.
  bool queue = false;
  const int max = blueprint.budget().max_active();
  std::vector<const v1::Preview*> occupying = Occupying(pipeline.name(), blueprint.name());
  switch (DecideBudget(blueprint.budget(), static_cast<int>(occupying.size()))) {
    case BudgetDecision::kAdmit:
      break;
    case BudgetDecision::kQueue:
      queue = true;
      break;
    case BudgetDecision::kEvictOldest: {
      v1::Preview oldest = *occupying.front();
      RETURN_IF_ERROR(BeginTeardown(
          oldest, absl::StrCat("evicted: budget of ", max, " previews is full"), actor, false));
      break;
    }
    case BudgetDecision::kReject:
      return absl::ResourceExhaustedError(
          absl::StrCat("blueprint ", pipeline.name(), "/", blueprint.name(), " already has ", max,
                       " live previews (budget.max_active) and its policy is reject"));
  }
  std::map<std::string, std::string> values = {
      {"trigger.branch", subject.branch()},
      {"trigger.sha", subject.sha()},
      {"trigger.pull_request",
       subject.pull_request() > 0 ? absl::StrCat(subject.pull_request()) : ""},
      {"trigger.source", subject.source()},
      {"pipeline.name", pipeline.name()}};
  for (const auto& [k, v] : args) values["args." + k] = v;
  ASSIGN_OR_RETURN(std::string name,
                   BaseName(blueprint.naming(), subject.branch(), subject.pull_request(), values));
  if (live_.ByName(name) != nullptr) {
    name = Disambiguate(name, absl::StrCat(pipeline.name(), "/", blueprint.name(), "/", key));
  }
  if (live_.ByName(name) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("preview name ", name, " is taken"));
  }
  v1::Preview p;
  p.set_name(name);
  p.set_uid("pv-" + deps_.ids->RandomHex(8));
  p.set_pipeline(pipeline.name());
  p.set_blueprint(blueprint.name());
  p.set_key(key);
  *p.mutable_subject() = subject;
  for (const auto& [k, v] : args) (*p.mutable_args())[k] = v;
  *p.mutable_spec() = blueprint;
  p.set_generation(1);
  p.set_actor(actor);
  *p.mutable_create_time() = Now();
  if (ttl > absl::ZeroDuration()) *p.mutable_expire_time() = ProtoTime(now + ttl);
  if (queue) {
    p.set_state(v1::PREVIEW_STATE_QUEUED);
    p.set_message(absl::StrCat("waiting for a free slot (budget.max_active ",
                               blueprint.budget().max_active(), ")"));
  } else {
    p.set_state(v1::PREVIEW_STATE_CREATING);
    p.set_message("creating");
  }
  RETURN_IF_ERROR(Save(p));
  return std::make_pair(p, queue ? Outcome::kQueued : Outcome::kCreated);
}

absl::Status PreviewManager::BeginTeardown(v1::Preview& p, const std::string& why,
                                           const std::string& actor, bool skip_flow) {
  p.set_state(v1::PREVIEW_STATE_TEARING_DOWN);
  p.set_generation(p.generation() + 1);  // a new teardown attempt: new request ids
  p.set_message(why);
  p.set_actor(actor);
  p.set_skip_teardown(p.skip_teardown() || skip_flow);
  p.clear_teardown_run_id();
  p.clear_teardown_flow_done();
  p.clear_retry_time();
  return Save(p);
}

absl::Status PreviewManager::StartRun(v1::Preview& p) {
  ASSIGN_OR_RETURN(std::optional<v1::Pipeline> pipeline, PipelineOf(p));
  const v1::PreviewBlueprint* bp = pipeline ? FindBlueprint(*pipeline, p.blueprint()) : nullptr;
  if (bp == nullptr) {
    return BeginTeardown(
        p, absl::StrCat("blueprint ", p.pipeline(), "/", p.blueprint(), " no longer exists"),
        "slipwayd", false);
  }
  *p.mutable_spec() = *bp;
  release::StartRequest req;
  req.pipeline = *pipeline;
  req.stage = StageOf(p);
  req.stage_spec = RunStage(*bp, options_);
  req.kind = v1::RUN_KIND_PREVIEW;
  req.preview = p.name();
  req.policy = v1::CONCURRENCY_POLICY_REPLACE;
  req.args.insert(p.args().begin(), p.args().end());
  req.trigger = TriggerOf(p, p.message());
  auto run = deps_.executor->Start(req, absl::StrCat("preview:", p.uid(), ":", p.generation()));
  if (!run.ok()) {
    p.set_state(v1::PREVIEW_STATE_FAILED);
    p.set_message(std::string(run.status().message()));
    return Save(p);
  }
  p.set_run_id(run->id());
  p.add_runs(run->id());
  while (p.runs_size() > kMaxRunsKept) p.mutable_runs()->DeleteSubrange(0, 1);
  return Save(p);
}

absl::Status PreviewManager::StartTeardownRun(v1::Preview& p) {
  ASSIGN_OR_RETURN(std::optional<v1::Pipeline> pipeline, PipelineOf(p));
  v1::Pipeline owner = pipeline.value_or(v1::Pipeline());
  if (owner.name().empty()) owner.set_name(p.pipeline());
  release::StartRequest req;
  req.pipeline = owner;
  req.stage = StageOf(p);
  v1::Stage stage;
  stage.set_name(p.blueprint());
  *stage.mutable_resources() = p.spec().resources();
  *stage.mutable_flow() = p.spec().teardown().flow();
  req.stage_spec = stage;
  req.kind = v1::RUN_KIND_PREVIEW_TEARDOWN;
  req.preview = p.name();
  req.policy = v1::CONCURRENCY_POLICY_ALLOW;
  req.args.insert(p.args().begin(), p.args().end());
  req.trigger = TriggerOf(p, p.message());
  auto run =
      deps_.executor->Start(req, absl::StrCat("preview-teardown:", p.uid(), ":", p.generation()));
  if (!run.ok()) {
    if (p.spec().teardown().failure_policy() == v1::FAILURE_POLICY_BLOCK) {
      p.set_state(v1::PREVIEW_STATE_TEARDOWN_FAILED);
      p.set_message(absl::StrCat("teardown flow: ", run.status().message()));
      return Save(p);
    }
    p.set_message(absl::StrCat(p.message(), "; teardown flow not run: ", run.status().message()));
    p.set_teardown_flow_done(true);
    return Save(p);
  }
  p.set_teardown_run_id(run->id());
  p.add_runs(run->id());
  return Save(p);
}

void PreviewManager::PostRemoval(const v1::Preview& p, Removal kind,
                                 const std::vector<std::string>& names) {
  // The resources to remove: what was recorded as deployed, and what the blueprint declares
  // (a deploy that was interrupted before it was recorded may still have started something).
  std::map<std::string, v1::Resource> specs;
  std::vector<v1::ResourceState> recorded;
  absl::Status read = deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(recorded,
                     storage::StageResourceRepository().List(tx, p.pipeline(), StageOf(p)));
    return absl::OkStatus();
  });
  if (!read.ok()) return;  // tried again next Tick
  for (const auto& r : recorded) specs[r.name()] = r.spec();
  if (names.empty()) {
    for (const auto& r : p.spec().resources()) specs.emplace(r.name(), r);
  } else {
    std::map<std::string, v1::Resource> only;
    for (const auto& n : names) {
      if (specs.contains(n)) only[n] = specs[n];
    }
    specs = std::move(only);
  }
  busy_.insert(p.uid());
  const std::string uid = p.uid();
  const std::string key_prefix = absl::StrCat(p.pipeline(), "/", StageOf(p), "/");
  deploy::DriverRegistry drivers = deps_.drivers;
  deps_.tasks->Post([this, uid, kind, specs, key_prefix, drivers]() {
    TaskDone done{uid, kind, {}, absl::OkStatus()};
    for (const auto& [name, spec] : specs) {
      if (spec.kind() == v1::RESOURCE_KIND_JOB) {
        done.removed.push_back(name);
        continue;
      }
      auto d = drivers.find(spec.driver());
      if (d == drivers.end() || d->second == nullptr) {
        done.status = absl::UnavailableError(
            absl::StrCat("resource ", name, ": driver \"", spec.driver(), "\" is not available"));
        continue;
      }
      deploy::DeployRequest req;
      req.key = key_prefix + name;
      req.spec = spec;
      absl::Status s = d->second->Teardown(req);
      if (s.ok()) {
        done.removed.push_back(name);
      } else if (done.status.ok()) {
        done.status = absl::Status(s.code(), absl::StrCat("resource ", name, ": ", s.message()));
      }
    }
    {
      absl::MutexLock lock(&work_mu_);
      done_.push_back(std::move(done));
      work_ = true;
    }
  });
}

absl::Status PreviewManager::ApplyTaskDone(TaskDone& done) {
  busy_.erase(done.uid);
  const v1::Preview* live = live_.ByUid(done.uid);
  if (live == nullptr) return absl::OkStatus();
  v1::Preview p = *live;
  // Removed resources are no longer owned.
  RETURN_IF_ERROR(deps_.db->Write([&](storage::Transaction& tx) -> absl::Status {
    for (const auto& name : done.removed) {
      RETURN_IF_ERROR(
          storage::StageResourceRepository().Delete(tx, p.pipeline(), StageOf(p), name));
    }
    return absl::OkStatus();
  }));
  if (done.kind == Removal::kStop) {
    if (p.state() == v1::PREVIEW_STATE_PAUSED) {
      p.set_stopped(done.status.ok());
      if (!done.status.ok()) p.set_message(absl::StrCat("pausing: ", done.status.message()));
      p.clear_resources();
      return Save(p);
    }
    return absl::OkStatus();
  }
  if (done.kind == Removal::kDropped) {
    if (p.state() != v1::PREVIEW_STATE_UPDATING && p.state() != v1::PREVIEW_STATE_CREATING) {
      return absl::OkStatus();
    }
    if (!done.status.ok()) {
      p.set_state(v1::PREVIEW_STATE_FAILED);
      p.set_message(
          absl::StrCat("removing a resource dropped from the blueprint: ", done.status.message()));
      return Save(p);
    }
    // Done below by Step (the run succeeded and nothing is left to remove).
    return Step(p);
  }
  // Removal::kTeardown
  if (p.state() != v1::PREVIEW_STATE_TEARING_DOWN) return absl::OkStatus();
  if (!done.status.ok()) {
    p.set_message(absl::StrCat("teardown: ", done.status.message(), "; retrying"));
    *p.mutable_retry_time() = ProtoTime(deps_.clock->Now() + options_.teardown_retry);
    return Save(p);
  }
  p.set_state(v1::PREVIEW_STATE_DELETED);
  *p.mutable_delete_time() = Now();
  p.clear_resources();
  RETURN_IF_ERROR(Save(p));
  if (!p.has_recreate()) return absl::OkStatus();
  // An event arrived during the teardown: the pull request or branch lives on.
  ASSIGN_OR_RETURN(std::optional<v1::Pipeline> pipeline, PipelineOf(p));
  const v1::PreviewBlueprint* bp = pipeline ? FindBlueprint(*pipeline, p.blueprint()) : nullptr;
  if (bp == nullptr) return absl::OkStatus();
  std::map<std::string, std::string> args(p.args().begin(), p.args().end());
  return Upsert(*pipeline, *bp, p.key(), p.recreate(), args, p.actor()).status();
}

bool PreviewManager::StopRuns(const v1::Preview& p, const std::string& keep) {
  bool waiting = false;
  for (const std::string& id : deps_.executor->RunsInProgress(p.pipeline(), StageOf(p))) {
    if (id == keep) continue;
    // An ended run with work in flight cannot be cancelled; it is waited for.
    deps_.executor->Cancel(id, "slipwayd", absl::StrCat("preview ", p.name(), " ", p.message()))
        .IgnoreError();
    waiting = true;
  }
  return waiting;
}

absl::Status PreviewManager::Step(v1::Preview& p) {
  const absl::Time now = deps_.clock->Now();
  if (busy_.contains(p.uid())) return absl::OkStatus();
  switch (p.state()) {
    case v1::PREVIEW_STATE_QUEUED: {
      if (DecideBudget(p.spec().budget(),
                       static_cast<int>(Occupying(p.pipeline(), p.blueprint()).size())) !=
          BudgetDecision::kAdmit) {
        return absl::OkStatus();
      }
      p.set_state(v1::PREVIEW_STATE_CREATING);
      p.set_message("creating (a budget slot freed)");
      RETURN_IF_ERROR(Save(p));
      return StartRun(p);
    }
    case v1::PREVIEW_STATE_CREATING:
    case v1::PREVIEW_STATE_UPDATING: {
      if (p.run_id().empty()) return StartRun(p);
      ASSIGN_OR_RETURN(auto run, RunOf(p.run_id()));
      if (!run.has_value()) {
        // Recorded before the run's own commit finished (or lost): start it again; the request
        // id returns the same run if it exists.
        return StartRun(p);
      }
      if (!RunEnded(run->state())) return absl::OkStatus();
      if (run->state() != v1::RUN_STATE_SUCCEEDED) {
        p.set_state(v1::PREVIEW_STATE_FAILED);
        p.set_message(run->error().empty() ? v1::RunState_Name(run->state()) : run->error());
        return Save(p);
      }
      // Resources recorded but no longer in the blueprint are removed before READY.
      std::vector<v1::ResourceState> recorded;
      RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
        ASSIGN_OR_RETURN(recorded,
                         storage::StageResourceRepository().List(tx, p.pipeline(), StageOf(p)));
        return absl::OkStatus();
      }));
      std::vector<std::string> dropped;
      for (const auto& r : recorded) {
        bool declared = false;
        for (const auto& d : p.spec().resources()) declared = declared || d.name() == r.name();
        if (!declared) dropped.push_back(r.name());
      }
      if (!dropped.empty()) {
        PostRemoval(p, Removal::kDropped, dropped);
        return absl::OkStatus();
      }
      p.clear_resources();
      for (const auto& r : recorded) {
        v1::PreviewResource* out = p.add_resources();
        out->set_name(r.name());
        out->set_driver(r.spec().driver());
        *out->mutable_status() = r.status();
      }
      p.set_state(v1::PREVIEW_STATE_READY);
      p.set_ready_sha(p.subject().sha());
      *p.mutable_ready_time() = Now();
      p.set_message(absl::StrCat("ready at ", p.subject().sha()));
      return Save(p);
    }
    case v1::PREVIEW_STATE_READY:
    case v1::PREVIEW_STATE_FAILED:
    case v1::PREVIEW_STATE_PAUSED: {
      if (p.has_expire_time() && now >= ParseTime(p.expire_time())) {
        absl::Status s = BeginTeardown(p, "lifetime expired", "slipwayd", false);
        if (deps_.audit != nullptr) {
          v1::AuditRecord r;
          r.set_actor_kind(v1::ACTOR_KIND_SYSTEM);
          r.set_actor("slipwayd");
          r.set_action("Preview/expire");
          r.set_target(absl::StrCat(p.pipeline(), "/", p.name()));
          r.set_outcome(storage::OutcomeOf(s));
          deps_.audit->Record(std::move(r)).IgnoreError();  // logged by Record
        }
        return s;
      }
      if (p.state() == v1::PREVIEW_STATE_PAUSED && !p.stopped()) {
        if (StopRuns(p, "")) return absl::OkStatus();
        PostRemoval(p, Removal::kStop, {});
      }
      return absl::OkStatus();
    }
    case v1::PREVIEW_STATE_TEARING_DOWN: {
      if (p.has_retry_time() && now < ParseTime(p.retry_time())) return absl::OkStatus();
      // Nothing may deploy while the preview is removed: every create or update run (also an
      // older one still finishing a deploy after it was replaced) ends first.
      if (StopRuns(p, p.teardown_run_id())) return absl::OkStatus();
      const v1::Flow& flow = p.spec().teardown().flow();
      const bool has_flow =
          flow.has_sequential() ? flow.sequential().steps_size() > 0 : flow.has_parallel();
      if (has_flow && !p.skip_teardown() && !p.teardown_flow_done()) {
        if (p.teardown_run_id().empty()) return StartTeardownRun(p);
        ASSIGN_OR_RETURN(auto run, RunOf(p.teardown_run_id()));
        if (run.has_value() && !RunEnded(run->state())) return absl::OkStatus();
        if (!run.has_value() || run->state() != v1::RUN_STATE_SUCCEEDED) {
          std::string error = run.has_value() ? run->error() : "its run is gone";
          if (p.spec().teardown().failure_policy() == v1::FAILURE_POLICY_BLOCK) {
            p.set_state(v1::PREVIEW_STATE_TEARDOWN_FAILED);
            p.set_message(absl::StrCat("teardown flow failed: ", error));
            return Save(p);
          }
          p.set_message(absl::StrCat(p.message(), "; teardown flow failed (ignored): ", error));
        }
        p.set_teardown_flow_done(true);
        RETURN_IF_ERROR(Save(p));
      }
      if (StopRuns(p, "")) return absl::OkStatus();
      PostRemoval(p, Removal::kTeardown, {});
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

absl::Status PreviewManager::Tick() {
  RETURN_IF_ERROR(Refresh());
  std::vector<TaskDone> done;
  {
    absl::MutexLock lock(&work_mu_);
    done.swap(done_);
    work_ = false;
  }
  absl::MutexLock lock(&mu_);
  absl::Status first;
  for (TaskDone& d : done) {
    absl::Status s = ApplyTaskDone(d);
    if (first.ok()) first = s;
  }
  // Only previews with work: the pending ones and the due timers (not every live preview).
  for (const std::string& uid : live_.WorkAt(deps_.clock->Now())) {
    const v1::Preview* live = live_.ByUid(uid);
    if (live == nullptr) continue;
    v1::Preview p = *live;
    absl::Status s = Step(p);
    if (first.ok()) first = s;
  }
  return first;
}

}  // namespace slipway::preview
