// The preview manager's API: loading, storing and the requests of users (create, delete,
// extend, pause, resume, get, list). Matching events, budgets, the lifecycle and reconcile
// live in matching.cc, budget.cc, lifecycle.cc and reconcile.cc.
#include "preview/preview_manager.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "preview/matching.h"
#include "storage/pipeline_repository.h"
#include "storage/preview_repository.h"
#include "storage/run_repository.h"

namespace slipway::preview {

PreviewManager::PreviewManager(PreviewDeps deps, PreviewOptions options)
    : deps_(std::move(deps)), options_(options) {}

google::protobuf::Timestamp PreviewManager::Now() const { return ProtoTime(deps_.clock->Now()); }

absl::Status PreviewManager::Load() {
  std::vector<v1::Preview> all;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(all, storage::PreviewRepository().List(tx, "", false));
    return absl::OkStatus();
  }));
  absl::MutexLock lock(&mu_);
  live_.clear();
  for (auto& p : all) live_.Put(std::move(p));
  return absl::OkStatus();
}

absl::Status PreviewManager::Refresh() { return options_.shared_store ? Load() : absl::OkStatus(); }

absl::Status PreviewManager::Save(const v1::Preview& p) {
  v1::Preview copy = p;
  *copy.mutable_update_time() = Now();
  RETURN_IF_ERROR(deps_.db->Write(
      [&](storage::Transaction& tx) { return storage::PreviewRepository().Put(tx, copy); }));
  const v1::Preview* before = live_.ByUid(copy.uid());
  const v1::PreviewState from = before == nullptr ? v1::PREVIEW_STATE_UNSPECIFIED : before->state();
  if (from != copy.state() && deps_.on_transition) deps_.on_transition(from, copy.state());
  live_.Put(std::move(copy));  // a DELETED preview leaves the live set
  Notify();
  return absl::OkStatus();
}

absl::StatusOr<v1::Preview> PreviewManager::Create(const v1::Pipeline& pipeline,
                                                   const std::string& blueprint,
                                                   const std::string& branch,
                                                   const std::string& sha,
                                                   const std::map<std::string, std::string>& args,
                                                   const std::string& actor) {
  RETURN_IF_ERROR(Refresh());
  const v1::PreviewBlueprint* bp = nullptr;
  if (blueprint.empty()) {
    if (pipeline.preview_blueprints_size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat("blueprint: pipeline ", pipeline.name(),
                                                     " has ", pipeline.preview_blueprints_size(),
                                                     " preview blueprints; name one"));
    }
    bp = &pipeline.preview_blueprints(0);
  } else {
    bp = FindBlueprint(pipeline, blueprint);
  }
  if (bp == nullptr) {
    return absl::NotFoundError(absl::StrCat("blueprint: pipeline ", pipeline.name(),
                                            " has no preview blueprint \"", blueprint, "\""));
  }
  if (branch.empty()) return absl::InvalidArgumentError("branch: must not be empty");
  if (branch.size() > 255) return absl::InvalidArgumentError("branch: longer than 255 characters");
  std::string source;
  for (const auto& t : bp->triggers()) {
    if (t.has_push()) source = t.push().source();
    if (source.empty() && t.has_pull_request()) source = t.pull_request().source();
  }
  v1::PreviewSubject subject;
  subject.set_source(source);
  subject.set_branch(branch);
  subject.set_sha(sha);
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(auto r,
                   Upsert(pipeline, *bp, SubjectKey(source, 0, branch), subject, args, actor));
  return r.first;
}

absl::StatusOr<v1::Preview> PreviewManager::Delete(const std::string& name, bool skip_teardown,
                                                   const std::string& actor) {
  RETURN_IF_ERROR(Refresh());
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(v1::Preview p, LiveCopy(name));
  if (p.state() == v1::PREVIEW_STATE_TEARING_DOWN && (!skip_teardown || p.skip_teardown())) {
    return p;
  }
  RETURN_IF_ERROR(BeginTeardown(p, absl::StrCat("deleted by ", actor), actor, skip_teardown));
  return p;
}

absl::StatusOr<v1::Preview> PreviewManager::Extend(const std::string& name, absl::Duration by) {
  if (by <= absl::ZeroDuration()) return absl::InvalidArgumentError("duration: must be positive");
  RETURN_IF_ERROR(Refresh());
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(v1::Preview p, LiveCopy(name));
  if (p.state() == v1::PREVIEW_STATE_TEARING_DOWN) {
    return absl::FailedPreconditionError(absl::StrCat("preview ", name, " is being torn down"));
  }
  absl::Time from = std::max(deps_.clock->Now(),
                             !p.has_expire_time()
                                 ? deps_.clock->Now()
                                 : TimeFromProto(p.expire_time()).value_or(absl::InfiniteFuture()));
  *p.mutable_expire_time() = ProtoTime(from + by);
  RETURN_IF_ERROR(Save(p));
  return p;
}

absl::StatusOr<v1::Preview> PreviewManager::Pause(const std::string& name,
                                                  const std::string& actor) {
  RETURN_IF_ERROR(Refresh());
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(v1::Preview p, LiveCopy(name));
  if (p.state() == v1::PREVIEW_STATE_PAUSED) return p;
  if (p.state() != v1::PREVIEW_STATE_READY && p.state() != v1::PREVIEW_STATE_FAILED &&
      p.state() != v1::PREVIEW_STATE_CREATING && p.state() != v1::PREVIEW_STATE_UPDATING) {
    return absl::FailedPreconditionError(absl::StrCat("preview ", name, " is ",
                                                      v1::PreviewState_Name(p.state()),
                                                      "; only a running preview "
                                                      "can be paused"));
  }
  p.set_state(v1::PREVIEW_STATE_PAUSED);
  p.set_message(absl::StrCat("paused by ", actor));
  p.set_actor(actor);
  p.set_stopped(false);
  RETURN_IF_ERROR(Save(p));
  return p;
}

absl::StatusOr<v1::Preview> PreviewManager::Resume(const std::string& name,
                                                   const std::string& actor) {
  RETURN_IF_ERROR(Refresh());
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(v1::Preview p, LiveCopy(name));
  if (p.state() != v1::PREVIEW_STATE_PAUSED) {
    return absl::FailedPreconditionError(absl::StrCat("preview ", name, " is not paused"));
  }
  if (busy_.contains(p.uid())) {
    return absl::UnavailableError(absl::StrCat("preview ", name, " is still stopping; retry"));
  }
  p.set_state(v1::PREVIEW_STATE_UPDATING);
  p.set_generation(p.generation() + 1);
  p.clear_run_id();
  p.set_message(absl::StrCat("resumed by ", actor));
  p.set_actor(actor);
  RETURN_IF_ERROR(Save(p));
  return p;
}

absl::StatusOr<v1::Preview> PreviewManager::Get(const std::string& name) {
  if (!options_.shared_store) {  // shared: what the store holds, below
    absl::MutexLock lock(&mu_);
    if (const v1::Preview* p = live_.ByName(name)) return *p;
  }
  std::optional<v1::Preview> found;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(found, storage::PreviewRepository().FindByName(tx, name));
    return absl::OkStatus();
  }));
  if (!found.has_value()) return absl::NotFoundError(absl::StrCat("no preview named ", name));
  return *found;
}

absl::StatusOr<std::vector<v1::Preview>> PreviewManager::List(const std::string& pipeline,
                                                              bool include_deleted) {
  std::vector<v1::Preview> out;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(out, storage::PreviewRepository().List(tx, pipeline, include_deleted));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::optional<v1::Pipeline>> PreviewManager::PipelineOf(const v1::Preview& p) {
  std::optional<v1::Pipeline> pipeline;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    auto got = storage::PipelineRepository().Get(tx, p.pipeline());
    if (got.ok()) {
      pipeline = *std::move(got);
    } else if (!absl::IsNotFound(got.status())) {
      return got.status();  // a store error is not "the pipeline is gone"
    }
    return absl::OkStatus();
  }));
  return pipeline;
}

absl::StatusOr<v1::Preview> PreviewManager::LiveCopy(const std::string& name) {
  const v1::Preview* found = live_.ByName(name);
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("no live preview named ", name));
  return *found;
}

absl::StatusOr<std::optional<v1::Run>> PreviewManager::RunOf(const std::string& run_id) {
  std::optional<v1::Run> run;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    auto r = storage::RunRepository().Get(tx, run_id);
    if (r.ok()) {
      run = *std::move(r);
    } else if (!absl::IsNotFound(r.status())) {
      return r.status();
    }
    return absl::OkStatus();
  }));
  return run;
}

void PreviewManager::Notify() {
  absl::MutexLock lock(&work_mu_);
  work_ = true;
}

void PreviewManager::WaitForWork(absl::Duration timeout) {
  absl::MutexLock lock(&work_mu_);
  work_mu_.AwaitWithTimeout(absl::Condition(&work_), timeout);
}

std::optional<absl::Time> PreviewManager::NextWake() {
  absl::MutexLock lock(&mu_);
  return live_.NextTimer();
}

std::map<std::string, int> PreviewManager::CountByState() {
  absl::MutexLock lock(&mu_);
  std::map<std::string, int> out;
  for (const auto& [uid, p] : live_.all()) {
    std::string name = v1::PreviewState_Name(p.state()).substr(sizeof("PREVIEW_STATE_") - 1);
    ++out[absl::AsciiStrToLower(name)];
  }
  return out;
}

int PreviewManager::LiveCount() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(live_.size());
}

}  // namespace slipway::preview
