#include "release/stage_manager.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/names.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "pipeline/secrets.h"
#include "storage/pipeline_repository.h"
#include "storage/request_log.h"
#include "storage/run_repository.h"

namespace slipway::release {
namespace {

absl::Status CheckStage(const std::string& pipeline, const std::string& stage) {
  if (absl::Status s = CheckDnsLabel(pipeline); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline: ", s.message()));
  }
  if (absl::Status s = CheckDnsLabel(stage); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("stage: ", s.message()));
  }
  return absl::OkStatus();
}

// The steps of kind `kind` ("run_job", "http_request", "message") in a flow, by ref.
void CollectSteps(const google::protobuf::RepeatedPtrField<v1::Step>& steps,
                  v1::Step::KindCase kind, std::vector<std::string>& refs) {
  for (const auto& s : steps) {
    if (s.kind_case() == kind) refs.push_back(s.ref());
    if (s.has_sequential()) CollectSteps(s.sequential().steps(), kind, refs);
    if (s.has_parallel()) CollectSteps(s.parallel().steps(), kind, refs);
  }
}

// What a rollback of `stage` does not undo, from its flow: a rollback deploys the target's
// resources and runs none of the flow's other steps.
std::vector<std::string> NotUndone(const v1::Stage* stage, int64_t target) {
  std::vector<std::string> out;
  const google::protobuf::RepeatedPtrField<v1::Step> none;
  const auto& steps = stage == nullptr               ? none
                      : stage->flow().has_parallel() ? stage->flow().parallel().steps()
                                                     : stage->flow().sequential().steps();
  struct Kind {
    v1::Step::KindCase kind;
    const char* what;
  };
  for (const Kind& k : {Kind{v1::Step::kRunJob, "jobs are not replayed"},
                        Kind{v1::Step::kHttpRequest, "HTTP calls are not replayed"},
                        Kind{v1::Step::kMessage, "messages are not replayed"}}) {
    std::vector<std::string> refs;
    CollectSteps(steps, k.kind, refs);
    if (!refs.empty()) out.push_back(absl::StrCat(k.what, ": ", absl::StrJoin(refs, ", ")));
  }
  out.push_back(absl::StrCat("releases after ", target,
                             " stay in the history; only the resources' artifacts and "
                             "configuration go back"));
  return out;
}

void Compare(const char* field, const std::string& a, const std::string& b,
             std::vector<std::string>& out) {
  if (a != b) {
    out.push_back(
        absl::StrCat(field, ": ", a.empty() ? "(none)" : a, " -> ", b.empty() ? "(none)" : b));
  }
}

// A rollback's answer from its run and what was logged with it (target and diff).
absl::StatusOr<v1::RollbackStageResponse> Answer(LoggedStart logged) {
  v1::RollbackStageResponse out;
  if (!out.ParseFromString(logged.extra)) {
    return absl::DataLossError("request log: a rollback's answer cannot be decoded");
  }
  logged.run.clear_stage_spec();
  *out.mutable_run() = std::move(logged.run);
  return out;
}

// Text that a deploy node must take literally, not as an expression.
std::string Literal(const std::string& s) { return absl::StrReplaceAll(s, {{"${", "$${"}}); }

}  // namespace

v1::ReleaseDiff DiffReleases(const v1::Release& from, const v1::Release& to) {
  v1::ReleaseDiff diff;
  diff.set_from_release(from.number());
  diff.set_to_release(to.number());
  std::map<std::string, const v1::ResourceState*> a, b;
  for (const auto& r : from.resources()) a[r.name()] = &r;
  for (const auto& r : to.resources()) b[r.name()] = &r;
  std::map<std::string, bool> names;
  for (const auto& [n, r] : a) names[n] = true;
  for (const auto& [n, r] : b) names[n] = true;
  for (const auto& [name, unused] : names) {
    v1::ResourceChange change;
    change.set_resource(name);
    auto ia = a.find(name);
    auto ib = b.find(name);
    if (ia == a.end()) {
      change.add_changes("added");
      *change.mutable_after() = ib->second->artifact();
    } else if (ib == b.end()) {
      change.add_changes("removed");
      *change.mutable_before() = ia->second->artifact();
    } else {
      const v1::Artifact& x = ia->second->artifact();
      const v1::Artifact& y = ib->second->artifact();
      *change.mutable_before() = x;
      *change.mutable_after() = y;
      std::vector<std::string> out;
      Compare("artifact.image", x.image(), y.image(), out);
      Compare("artifact.sha", x.sha(), y.sha(), out);
      Compare("artifact.version", x.version(), y.version(), out);
      std::map<std::string, bool> keys;
      for (const auto& [k, v] : x.config()) keys[k] = true;
      for (const auto& [k, v] : y.config()) keys[k] = true;
      for (const auto& [k, unused2] : keys) {
        auto cx = x.config().find(k);
        auto cy = y.config().find(k);
        Compare(("artifact.config." + k).c_str(), cx == x.config().end() ? "" : cx->second,
                cy == y.config().end() ? "" : cy->second, out);
      }
      if (ia->second->spec().SerializeAsString() != ib->second->spec().SerializeAsString()) {
        out.push_back("spec changed");
      }
      for (auto& c : out) change.add_changes(std::move(c));
    }
    if (change.changes_size() > 0) *diff.add_resources() = std::move(change);
  }
  return diff;
}

absl::StatusOr<v1::RollbackStageResponse> StageManager::Rollback(
    const v1::RollbackStageRequest& request, const std::string& caller) {
  RETURN_IF_ERROR(CheckStage(request.pipeline(), request.stage()));
  if (request.to_release() < 0)
    return absl::InvalidArgumentError("to_release: must not be negative");
  if (request.request_id().size() > 128) {
    return absl::InvalidArgumentError("request_id: at most 128 characters");
  }
  // A retry answers with the first call's target, diff and run, even when a newer release or
  // the rollback itself has changed what a new call would compute.
  const std::string fingerprint =
      request.request_id().empty() || request.dry_run() ? "" : storage::Fingerprint(request);
  if (!fingerprint.empty()) {
    ASSIGN_OR_RETURN(auto logged,
                     executor_->FindLogged("RollbackStage", request.request_id(), fingerprint));
    if (logged.has_value()) return Answer(std::move(*logged));
  }
  std::optional<v1::Release> current;
  v1::Release target;
  std::optional<v1::Pipeline> pipeline;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    storage::ReleaseRepository releases;
    ASSIGN_OR_RETURN(current, releases.Latest(tx, request.pipeline(), request.stage()));
    if (!current.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "stage ", request.pipeline(), "/", request.stage(), " has no release to roll back from"));
    }
    if (request.to_release() > 0) {
      ASSIGN_OR_RETURN(target,
                       releases.Get(tx, request.pipeline(), request.stage(), request.to_release()));
    } else {
      ASSIGN_OR_RETURN(auto before, releases.List(tx, request.pipeline(), request.stage(),
                                                  current->number(), 1));
      if (before.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("stage ", request.pipeline(), "/", request.stage(), " has only release ",
                         current->number(), "; there is nothing before it to roll back to"));
      }
      target = before.front();
    }
    auto p = storage::PipelineRepository().Get(tx, request.pipeline());
    if (p.ok()) pipeline = *p;
    return absl::OkStatus();
  }));
  if (target.number() == current->number()) {
    return absl::FailedPreconditionError(
        absl::StrCat("release ", target.number(), " is already the current release"));
  }
  if (target.resources_size() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("release ", target.number(), " has no resources to re-apply"));
  }
  const std::string reason =
      request.reason().empty()
          ? absl::StrCat("rolled back to release ", target.number())
          : absl::StrCat("rolled back to release ", target.number(), ": ", request.reason());
  v1::RollbackStageResponse out;
  out.set_target_release(target.number());
  *out.mutable_diff() = DiffReleases(*current, target);
  // What a confirmation shows: the hold it will place, and what it leaves as it is.
  v1::StageHold* hold = out.mutable_hold();
  hold->set_pipeline(request.pipeline());
  hold->set_stage(request.stage());
  hold->set_reason(reason);
  hold->set_held_by(caller);
  const v1::Stage* stage = nullptr;
  if (pipeline.has_value()) {
    for (const auto& s : pipeline->stages()) {
      if (s.name() == request.stage()) stage = &s;
    }
  }
  for (auto& line : NotUndone(stage, target.number())) out.add_not_undone(std::move(line));
  if (request.dry_run()) return out;

  // The run needs nothing but the snapshot: its resources come from the target release, its
  // flow deploys each of them (in parallel) with the recorded artifact.
  StartRequest start;
  if (pipeline.has_value()) {
    start.pipeline = *pipeline;
  } else {
    start.pipeline.set_name(request.pipeline());
  }
  start.stage = request.stage();
  start.kind = v1::RUN_KIND_ROLLBACK;
  start.rollback_to = target.number();
  start.policy = v1::CONCURRENCY_POLICY_REPLACE;
  v1::Stage spec;
  spec.set_name(request.stage());
  auto* steps = spec.mutable_flow()->mutable_parallel();
  for (const auto& r : target.resources()) {
    *spec.add_resources() = r.spec();
    v1::Step* step = steps->add_steps();
    step->set_ref(r.name());
    step->mutable_deploy()->set_resource(r.name());
    v1::Artifact* a = step->mutable_deploy()->mutable_artifact();
    a->set_image(Literal(r.artifact().image()));
    a->set_sha(Literal(r.artifact().sha()));
    a->set_version(Literal(r.artifact().version()));
    // The exact image that ran: a moved tag does not change what a rollback runs.
    a->set_digest(r.artifact().digest());
    for (const auto& [k, v] : r.artifact().config()) (*a->mutable_config())[k] = Literal(v);
  }
  start.stage_spec = std::move(spec);
  start.trigger = target.trigger();
  start.trigger.set_event("rollback");
  start.trigger.set_actor(caller);
  start.trigger.set_delivery("");
  start.trigger.set_reason(reason);
  start.request_method = "RollbackStage";
  start.request_fingerprint = fingerprint;
  start.request_extra = out.SerializeAsString();
  std::string extra;
  ASSIGN_OR_RETURN(v1::Run run,
                   executor_->Start(start, request.dry_run() ? "" : request.request_id(), &extra));
  return Answer({std::move(run), std::move(extra)});
}

absl::StatusOr<v1::ReleaseDiff> StageManager::Diff(const v1::DiffReleasesRequest& request) {
  RETURN_IF_ERROR(CheckStage(request.pipeline(), request.stage()));
  v1::Release from, to;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    storage::ReleaseRepository releases;
    ASSIGN_OR_RETURN(from,
                     releases.Get(tx, request.pipeline(), request.stage(), request.from_release()));
    ASSIGN_OR_RETURN(to,
                     releases.Get(tx, request.pipeline(), request.stage(), request.to_release()));
    return absl::OkStatus();
  }));
  return DiffReleases(from, to);
}

absl::StatusOr<v1::StageHold> StageManager::Hold(const v1::HoldStageRequest& request,
                                                 const std::string& caller) {
  RETURN_IF_ERROR(CheckStage(request.pipeline(), request.stage()));
  if (request.reason().empty()) return absl::InvalidArgumentError("reason: required");
  v1::StageHold hold;
  hold.set_pipeline(request.pipeline());
  hold.set_stage(request.stage());
  hold.set_reason(request.reason());
  hold.set_held_by(caller);
  *hold.mutable_hold_time() = ProtoTime(clock_->Now());
  RETURN_IF_ERROR(db_->Write([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(v1::Pipeline p, storage::PipelineRepository().Get(tx, request.pipeline()));
    bool found = false;
    for (const auto& s : p.stages()) found = found || s.name() == request.stage();
    if (!found)
      return absl::NotFoundError(absl::StrCat("stage \"", request.stage(), "\" not found"));
    ASSIGN_OR_RETURN(auto latest,
                     storage::ReleaseRepository().Latest(tx, request.pipeline(), request.stage()));
    if (latest.has_value()) hold.set_pinned_release(latest->number());
    return storage::StageHoldRepository().Put(tx, hold);
  }));
  return hold;
}

absl::StatusOr<v1::ReleaseHoldResponse> StageManager::ReleaseHold(
    const v1::ReleaseHoldRequest& request) {
  RETURN_IF_ERROR(CheckStage(request.pipeline(), request.stage()));
  v1::ReleaseHoldResponse out;
  RETURN_IF_ERROR(db_->Write([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto lifted, storage::StageHoldRepository().Delete(tx, request.pipeline(),
                                                                        request.stage()));
    if (lifted.has_value()) *out.mutable_released() = *lifted;
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::StageStatus> StageManager::Status(const v1::GetStageRequest& request) {
  RETURN_IF_ERROR(CheckStage(request.pipeline(), request.stage()));
  v1::StageStatus out;
  out.set_pipeline(request.pipeline());
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(v1::Pipeline p, storage::PipelineRepository().Get(tx, request.pipeline()));
    bool found = false;
    for (const auto& s : p.stages()) {
      if (s.name() == request.stage()) {
        *out.mutable_spec() = s;
        found = true;
      }
    }
    if (!found)
      return absl::NotFoundError(absl::StrCat("stage \"", request.stage(), "\" not found"));
    pipeline::RedactSecrets(out.mutable_spec());
    ASSIGN_OR_RETURN(auto latest,
                     storage::ReleaseRepository().Latest(tx, request.pipeline(), request.stage()));
    if (latest.has_value()) out.set_current_release(latest->number());
    ASSIGN_OR_RETURN(auto hold,
                     storage::StageHoldRepository().Get(tx, request.pipeline(), request.stage()));
    if (hold.has_value()) *out.mutable_hold() = *hold;
    ASSIGN_OR_RETURN(auto resources, storage::StageResourceRepository().List(tx, request.pipeline(),
                                                                             request.stage()));
    for (auto& r : resources) *out.add_resources() = std::move(r);
    ASSIGN_OR_RETURN(auto runs, storage::RunRepository().List(
                                    tx, {request.pipeline(), request.stage(), {}, 0, 5}));
    for (auto& r : runs) {
      r.clear_stage_spec();
      *out.add_recent_runs() = std::move(r);
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace slipway::release
