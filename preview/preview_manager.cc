#include "preview/preview_manager.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/duration.h"
#include "common/glob.h"
#include "common/status_macros.h"
#include "common/time_format.h"
#include "preview/naming.h"
#include "storage/pipeline_repository.h"
#include "storage/preview_repository.h"
#include "storage/run_repository.h"

namespace slipway::preview {
namespace {

constexpr int kMaxRunsKept = 20;

bool IsEnded(v1::RunState s) {
  return s == v1::RUN_STATE_SUCCEEDED || s == v1::RUN_STATE_FAILED ||
         s == v1::RUN_STATE_CANCELLED || s == v1::RUN_STATE_SKIPPED;
}

absl::Time ParseTime(const std::string& text) {
  absl::Time t = absl::InfinitePast();
  std::string err;
  if (text.empty() || !absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return absl::InfiniteFuture();
  }
  return t;
}

bool AnyGlob(const google::protobuf::RepeatedPtrField<std::string>& globs,
             const std::string& text) {
  if (globs.empty()) return true;
  for (const auto& g : globs) {
    if (GlobMatch(g, text)) return true;
  }
  return false;
}

const v1::PreviewBlueprint* FindBlueprint(const v1::Pipeline& pipeline, const std::string& name) {
  for (const auto& b : pipeline.preview_blueprints()) {
    if (b.name() == name) return &b;
  }
  return nullptr;
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
      ready->set_timeout(options.health_timeout);
      ready->mutable_await_condition()->set_resource_healthy(r.name());
      ready->mutable_await_condition()->set_interval(options.health_interval);
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

std::string SubjectKey(const std::string& source, int64_t pull_request, const std::string& branch) {
  if (pull_request > 0) return absl::StrCat(source, "/pr:", pull_request);
  return absl::StrCat(source, "/branch:", branch);
}

std::optional<bool> RecordedSubjectStates::StillOpen(const v1::Preview& preview) {
  std::optional<bool> open;
  absl::Status s = db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(open, storage::PreviewRepository().SubjectOpen(tx, preview.pipeline(),
                                                                    preview.key()));
    return absl::OkStatus();
  });
  if (!s.ok()) return std::nullopt;
  return open;
}

PreviewManager::PreviewManager(PreviewDeps deps, PreviewOptions options)
    : deps_(std::move(deps)), options_(std::move(options)) {}

std::string PreviewManager::Now() const { return FormatRfc3339(deps_.clock->Now()); }

absl::Status PreviewManager::Load() {
  std::vector<v1::Preview> all;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(all, storage::PreviewRepository().List(tx, "", false));
    return absl::OkStatus();
  }));
  absl::MutexLock lock(&mu_);
  live_.clear();
  for (auto& p : all) live_[p.uid()] = std::move(p);
  return absl::OkStatus();
}

absl::Status PreviewManager::Save(const v1::Preview& p) {
  v1::Preview copy = p;
  copy.set_update_time(Now());
  RETURN_IF_ERROR(deps_.db->Write([&](storage::Transaction& tx) {
    return storage::PreviewRepository().Put(tx, copy);
  }));
  if (copy.state() == v1::PREVIEW_STATE_DELETED) {
    live_.erase(copy.uid());
  } else {
    live_[copy.uid()] = std::move(copy);
  }
  Notify();
  return absl::OkStatus();
}

v1::Preview* PreviewManager::Live(const std::string& name) {
  for (auto& [uid, p] : live_) {
    if (p.name() == name) return &p;
  }
  return nullptr;
}

v1::Preview* PreviewManager::LiveByKey(const std::string& pipeline, const std::string& blueprint,
                                       const std::string& key) {
  for (auto& [uid, p] : live_) {
    if (p.pipeline() == pipeline && p.blueprint() == blueprint && p.key() == key) return &p;
  }
  return nullptr;
}

std::vector<v1::Preview*> PreviewManager::Occupying(const std::string& pipeline,
                                                     const std::string& blueprint) {
  std::vector<v1::Preview*> out;
  for (auto& [uid, p] : live_) {
    if (p.pipeline() != pipeline || p.blueprint() != blueprint) continue;
    if (p.state() == v1::PREVIEW_STATE_QUEUED || p.state() == v1::PREVIEW_STATE_TEARING_DOWN) {
      continue;
    }
    out.push_back(&p);
  }
  std::sort(out.begin(), out.end(), [](const v1::Preview* a, const v1::Preview* b) {
    return a->create_time() < b->create_time();
  });
  return out;
}

absl::StatusOr<std::pair<v1::Preview, PreviewManager::Outcome>> PreviewManager::Upsert(
    const v1::Pipeline& pipeline, const v1::PreviewBlueprint& blueprint, const std::string& key,
    const v1::PreviewSubject& subject, const std::map<std::string, std::string>& args,
    const std::string& actor) {
  const absl::Time now = deps_.clock->Now();
  absl::Duration ttl = absl::ZeroDuration();
  if (!blueprint.lifetime().ttl().empty()) {
    ASSIGN_OR_RETURN(ttl, ParseDuration(blueprint.lifetime().ttl()));
  }
  if (v1::Preview* existing = LiveByKey(pipeline.name(), blueprint.name(), key)) {
    v1::Preview p = *existing;
    switch (p.state()) {
      case v1::PREVIEW_STATE_TEARING_DOWN:
        // Reopened (or pushed again) while it is removed: a new preview follows.
        *p.mutable_recreate() = subject;
        RETURN_IF_ERROR(Save(p));
        return std::make_pair(p, Outcome::kQueued);
      case v1::PREVIEW_STATE_TEARDOWN_FAILED:
        return absl::FailedPreconditionError(absl::StrCat(
            "preview ", p.name(), " failed to tear down (", p.message(),
            "); delete it (--skip-teardown) before a new one can be created"));
      default:
        break;
    }
    const bool same = p.subject().sha() == subject.sha() &&
                      (p.state() == v1::PREVIEW_STATE_READY ||
                       p.state() == v1::PREVIEW_STATE_CREATING ||
                       p.state() == v1::PREVIEW_STATE_UPDATING);
    if (same && args.empty()) return std::make_pair(p, Outcome::kUnchanged);
    *p.mutable_subject() = subject;
    for (const auto& [k, v] : args) (*p.mutable_args())[k] = v;
    *p.mutable_spec() = blueprint;
    p.set_actor(actor);
    if (blueprint.lifetime().reset_on_update() && ttl > absl::ZeroDuration()) {
      p.set_expire_time(FormatRfc3339(now + ttl));
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
  if (int max = blueprint.budget().max_active(); max > 0) {
    std::vector<v1::Preview*> occupying = Occupying(pipeline.name(), blueprint.name());
    if (static_cast<int>(occupying.size()) >= max) {
      switch (blueprint.budget().when_full()) {
        case v1::WHEN_FULL_QUEUE:
          queue = true;
          break;
        case v1::WHEN_FULL_EVICT_OLDEST: {
          v1::Preview oldest = *occupying.front();
          RETURN_IF_ERROR(BeginTeardown(
              oldest, absl::StrCat("evicted: budget of ", max, " previews is full"), actor,
              false));
          break;
        }
        default:
          return absl::ResourceExhaustedError(absl::StrCat(
              "blueprint ", pipeline.name(), "/", blueprint.name(), " already has ", max,
              " live previews (budget.max_active) and its policy is reject"));
      }
    }
  }
  std::map<std::string, std::string> values = {
      {"trigger.branch", subject.branch()},
      {"trigger.sha", subject.sha()},
      {"trigger.pull_request",
       subject.pull_request() > 0 ? absl::StrCat(subject.pull_request()) : ""},
      {"trigger.source", subject.source()},
      {"pipeline.name", pipeline.name()}};
  for (const auto& [k, v] : args) values["args." + k] = v;
  ASSIGN_OR_RETURN(std::string name, BaseName(blueprint.naming(), subject.branch(),
                                              subject.pull_request(), values));
  if (Live(name) != nullptr) {
    name = Disambiguate(name, absl::StrCat(pipeline.name(), "/", blueprint.name(), "/", key));
  }
  if (Live(name) != nullptr) {
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
  p.set_create_time(Now());
  if (ttl > absl::ZeroDuration()) p.set_expire_time(FormatRfc3339(now + ttl));
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

std::vector<v1::DeliveryMatch> PreviewManager::HandleEvent(const v1::Pipeline& pipeline,
                                                           const v1::Source& source,
                                                           const v1::SourceEvent& event,
                                                           const std::string& actor) {
  std::vector<v1::DeliveryMatch> out;
  if (pipeline.preview_blueprints().empty()) return out;
  const bool is_pr = event.kind() == v1::GIT_EVENT_KIND_PULL_REQUEST;
  const bool is_push = event.kind() == v1::GIT_EVENT_KIND_PUSH;
  const bool is_delete = event.kind() == v1::GIT_EVENT_KIND_BRANCH_DELETED;
  if (!is_pr && !is_push && !is_delete) return out;
  const v1::PullRequestInfo& pr = event.pull_request();
  const std::string branch = is_pr ? pr.head_branch() : event.branch();
  const std::string key = SubjectKey(source.name(), is_pr ? pr.number() : 0, branch);
  const bool closing = is_pr && (pr.action() == v1::PULL_REQUEST_ACTION_CLOSED ||
                                 pr.action() == v1::PULL_REQUEST_ACTION_MERGED);

  absl::MutexLock lock(&mu_);
  // What this event says of its subject, for reconcile. Not recorded (a store error) only
  // means reconcile knows less, and it never deletes on missing knowledge.
  deps_.db
      ->Write([&](storage::Transaction& tx) {
        return storage::PreviewRepository().SetSubjectOpen(
            tx, pipeline.name(), key, !(closing || is_delete),
            absl::ToUnixMillis(deps_.clock->Now()));
      })
      .IgnoreError();
  if (is_delete) {
    // A deleted branch takes every live preview of it in this repository with it, whichever
    // blueprint made it and however (pull request, push, `slipway preview create`).
    std::vector<v1::Preview> of_branch;
    for (const auto& [uid, live] : live_) {
      if (live.pipeline() == pipeline.name() && live.subject().source() == source.name() &&
          live.subject().branch() == branch) {
        of_branch.push_back(live);
      }
    }
    for (v1::Preview& p : of_branch) {
      v1::DeliveryMatch m;
      m.set_pipeline(pipeline.name());
      m.set_blueprint(p.blueprint());
      m.set_preview(p.name());
      if (p.state() == v1::PREVIEW_STATE_TEARING_DOWN) {
        m.set_skipped("already being torn down");
      } else {
        absl::Status s = BeginTeardown(p, "branch deleted", actor, false);
        if (s.ok()) {
          m.set_preview_action("teardown");
        } else {
          m.set_skipped(std::string(s.message()));
        }
      }
      out.push_back(std::move(m));
    }
    if (!out.empty()) return out;
  }
  for (const auto& bp : pipeline.preview_blueprints()) {
    // Which of the blueprint's triggers concern this event, and whether they match.
    bool concerned = false, matched = false;
    std::string why_not;
    for (const auto& t : bp.triggers()) {
      if (is_pr && t.has_pull_request() && t.pull_request().source() == source.name()) {
        concerned = true;
        const auto& rule = t.pull_request();
        if (!AnyGlob(rule.branches(), branch)) {
          why_not = absl::StrCat("branch \"", branch, "\" does not match");
          continue;
        }
        if (rule.ignore_drafts() && pr.draft()) {
          why_not = "draft pull request";
          continue;
        }
        bool labels = true;
        for (const auto& want : rule.labels()) {
          if (std::find(pr.labels().begin(), pr.labels().end(), want) == pr.labels().end()) {
            labels = false;
            why_not = absl::StrCat("label \"", want, "\" missing");
          }
        }
        if (labels) matched = true;
      }
      if ((is_push || is_delete) && t.has_push() && t.push().source() == source.name()) {
        concerned = true;
        if (AnyGlob(t.push().branches(), branch)) {
          matched = true;
        } else {
          why_not = absl::StrCat("branch \"", branch, "\" does not match");
        }
      }
    }
    if (!concerned) continue;
    v1::DeliveryMatch m;
    m.set_pipeline(pipeline.name());
    m.set_blueprint(bp.name());
    v1::Preview* existing = LiveByKey(pipeline.name(), bp.name(), key);
    if (existing != nullptr) m.set_preview(existing->name());
    const bool gone = closing || is_delete;
    const bool unmatched_update =
        !matched && is_pr &&
        (pr.action() == v1::PULL_REQUEST_ACTION_LABELED ||
         pr.action() == v1::PULL_REQUEST_ACTION_EDITED);
    if (gone || unmatched_update) {
      if (existing == nullptr) {
        m.set_skipped(gone ? "no live preview" : why_not);
        out.push_back(std::move(m));
        continue;
      }
      if (existing->state() == v1::PREVIEW_STATE_TEARING_DOWN) {
        if (existing->has_recreate()) {
          // Closed again before the reopened one could be created.
          v1::Preview p = *existing;
          p.clear_recreate();
          if (absl::Status s = Save(p); !s.ok()) m.set_skipped(std::string(s.message()));
        }
        if (m.skipped().empty()) m.set_skipped("already being torn down");
        out.push_back(std::move(m));
        continue;
      }
      v1::Preview p = *existing;
      std::string why = closing ? (pr.action() == v1::PULL_REQUEST_ACTION_MERGED
                                       ? "pull request merged"
                                       : "pull request closed")
                        : is_delete ? "branch deleted"
                                    : absl::StrCat("no longer matches: ", why_not);
      absl::Status s = BeginTeardown(p, why, actor, false);
      if (s.ok()) {
        m.set_preview_action("teardown");
      } else {
        m.set_skipped(std::string(s.message()));
      }
      out.push_back(std::move(m));
      continue;
    }
    if (!matched) {
      m.set_skipped(why_not);
      out.push_back(std::move(m));
      continue;
    }
    v1::PreviewSubject subject;
    subject.set_source(source.name());
    subject.set_branch(branch);
    subject.set_pull_request(is_pr ? pr.number() : 0);
    subject.set_sha(is_pr ? pr.head_sha() : event.sha());
    auto r = Upsert(pipeline, bp, key, subject, {}, actor);
    if (!r.ok()) {
      m.set_skipped(std::string(r.status().message()));
    } else {
      m.set_preview(r->first.name());
      switch (r->second) {
        case Outcome::kCreated:
          m.set_preview_action("create");
          break;
        case Outcome::kUpdated:
          m.set_preview_action("update");
          break;
        case Outcome::kQueued:
          m.set_preview_action("queue");
          break;
        case Outcome::kUnchanged:
          m.set_skipped("preview is up to date");
          break;
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

absl::StatusOr<v1::Preview> PreviewManager::Create(const v1::Pipeline& pipeline,
                                                   const std::string& blueprint,
                                                   const std::string& branch,
                                                   const std::string& sha,
                                                   const std::map<std::string, std::string>& args,
                                                   const std::string& actor) {
  const v1::PreviewBlueprint* bp = nullptr;
  if (blueprint.empty()) {
    if (pipeline.preview_blueprints_size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "blueprint: pipeline ", pipeline.name(), " has ", pipeline.preview_blueprints_size(),
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
  ASSIGN_OR_RETURN(auto r, Upsert(pipeline, *bp, SubjectKey(source, 0, branch), subject, args,
                                  actor));
  return r.first;
}

absl::StatusOr<v1::Preview> PreviewManager::Delete(const std::string& name, bool skip_teardown,
                                                   const std::string& actor) {
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
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(v1::Preview p, LiveCopy(name));
  if (p.state() == v1::PREVIEW_STATE_TEARING_DOWN) {
    return absl::FailedPreconditionError(absl::StrCat("preview ", name, " is being torn down"));
  }
  absl::Time from = std::max(deps_.clock->Now(), p.expire_time().empty()
                                                     ? deps_.clock->Now()
                                                     : ParseTime(p.expire_time()));
  p.set_expire_time(FormatRfc3339(from + by));
  RETURN_IF_ERROR(Save(p));
  return p;
}

absl::StatusOr<v1::Preview> PreviewManager::Pause(const std::string& name,
                                                  const std::string& actor) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(v1::Preview p, LiveCopy(name));
  if (p.state() == v1::PREVIEW_STATE_PAUSED) return p;
  if (p.state() != v1::PREVIEW_STATE_READY && p.state() != v1::PREVIEW_STATE_FAILED &&
      p.state() != v1::PREVIEW_STATE_CREATING && p.state() != v1::PREVIEW_STATE_UPDATING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "preview ", name, " is ", v1::PreviewState_Name(p.state()), "; only a running preview "
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
  {
    absl::MutexLock lock(&mu_);
    if (v1::Preview* p = Live(name)) return *p;
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
  v1::Preview* found = Live(name);
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

absl::Status PreviewManager::StartRun(v1::Preview& p) {
  ASSIGN_OR_RETURN(std::optional<v1::Pipeline> pipeline, PipelineOf(p));
  const v1::PreviewBlueprint* bp = pipeline ? FindBlueprint(*pipeline, p.blueprint()) : nullptr;
  if (bp == nullptr) {
    return BeginTeardown(p, absl::StrCat("blueprint ", p.pipeline(), "/", p.blueprint(),
                                         " no longer exists"),
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
  auto run = deps_.executor->Start(
      req, absl::StrCat("preview-teardown:", p.uid(), ":", p.generation()));
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
  auto it = live_.find(done.uid);
  if (it == live_.end()) return absl::OkStatus();
  v1::Preview p = it->second;
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
      p.set_message(absl::StrCat("removing a resource dropped from the blueprint: ",
                                 done.status.message()));
      return Save(p);
    }
    // Done below by Step (the run succeeded and nothing is left to remove).
    return Step(p);
  }
  // Removal::kTeardown
  if (p.state() != v1::PREVIEW_STATE_TEARING_DOWN) return absl::OkStatus();
  if (!done.status.ok()) {
    p.set_message(absl::StrCat("teardown: ", done.status.message(), "; retrying"));
    p.set_retry_time(FormatRfc3339(deps_.clock->Now() + options_.teardown_retry));
    return Save(p);
  }
  p.set_state(v1::PREVIEW_STATE_DELETED);
  p.set_delete_time(Now());
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
      int max = p.spec().budget().max_active();
      if (max > 0 && static_cast<int>(Occupying(p.pipeline(), p.blueprint()).size()) >= max) {
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
      if (!IsEnded(run->state())) return absl::OkStatus();
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
      p.set_ready_time(Now());
      p.set_message(absl::StrCat("ready at ", p.subject().sha()));
      return Save(p);
    }
    case v1::PREVIEW_STATE_READY:
    case v1::PREVIEW_STATE_FAILED:
    case v1::PREVIEW_STATE_PAUSED: {
      if (!p.expire_time().empty() && now >= ParseTime(p.expire_time())) {
        return BeginTeardown(p, "lifetime expired", "slipwayd", false);
      }
      if (p.state() == v1::PREVIEW_STATE_PAUSED && !p.stopped()) {
        if (StopRuns(p, "")) return absl::OkStatus();
        PostRemoval(p, Removal::kStop, {});
      }
      return absl::OkStatus();
    }
    case v1::PREVIEW_STATE_TEARING_DOWN: {
      if (!p.retry_time().empty() && now < ParseTime(p.retry_time())) return absl::OkStatus();
      // Nothing may deploy while the preview is removed: every create or update run (also an
      // older one still finishing a deploy after it was replaced) ends first.
      if (StopRuns(p, p.teardown_run_id())) return absl::OkStatus();
      const v1::Flow& flow = p.spec().teardown().flow();
      const bool has_flow = flow.has_sequential() ? flow.sequential().steps_size() > 0
                                                  : flow.has_parallel();
      if (has_flow && !p.skip_teardown() && !p.teardown_flow_done()) {
        if (p.teardown_run_id().empty()) return StartTeardownRun(p);
        ASSIGN_OR_RETURN(auto run, RunOf(p.teardown_run_id()));
        if (run.has_value() && !IsEnded(run->state())) return absl::OkStatus();
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
  std::vector<std::string> uids;
  for (const auto& [uid, p] : live_) uids.push_back(uid);
  for (const auto& uid : uids) {
    auto it = live_.find(uid);
    if (it == live_.end()) continue;
    v1::Preview p = it->second;
    absl::Status s = Step(p);
    if (first.ok()) first = s;
  }
  return first;
}

ReconcileReport PreviewManager::Reconcile() {
  ReconcileReport report;
  absl::MutexLock lock(&mu_);
  // Previews whose pipeline was deleted or whose blueprint was removed: torn down (the user
  // removed them from the spec; no Git host is asked).
  std::map<std::string, std::optional<v1::Pipeline>> pipelines;
  for (const auto& [uid, p] : live_) pipelines.emplace(p.pipeline(), std::nullopt);
  absl::Status read = deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    for (auto& [name, spec] : pipelines) {
      auto got = storage::PipelineRepository().Get(tx, name);
      if (got.ok()) {
        spec = *std::move(got);
      } else if (!absl::IsNotFound(got.status())) {
        return got.status();
      }
    }
    return absl::OkStatus();
  });
  std::vector<std::string> orphans;
  if (read.ok()) {
    for (const auto& [uid, p] : live_) {
      if (p.state() == v1::PREVIEW_STATE_TEARING_DOWN) continue;
      const auto& spec = pipelines[p.pipeline()];
      if (!spec.has_value() || FindBlueprint(*spec, p.blueprint()) == nullptr) {
        orphans.push_back(uid);
      }
    }
  }
  for (const auto& uid : orphans) {
    v1::Preview p = live_[uid];
    if (BeginTeardown(p, absl::StrCat("blueprint ", p.pipeline(), "/", p.blueprint(),
                                      " no longer exists"),
                      "reconcile", false)
            .ok()) {
      ++report.orphaned;
    }
  }
  std::vector<std::string> candidates;
  for (const auto& [uid, p] : live_) {
    if (p.state() == v1::PREVIEW_STATE_TEARING_DOWN) continue;
    ++report.live;
    // Previews created through the API for a branch have no Git events behind them unless
    // their source is watched; unknown is left alone.
    std::optional<bool> open =
        deps_.subjects == nullptr ? std::nullopt : deps_.subjects->StillOpen(p);
    if (!open.has_value()) {
      ++report.unknown;
    } else if (!*open) {
      candidates.push_back(uid);
    }
  }
  report.candidates = static_cast<int>(candidates.size());
  const int allowed =
      std::max(1, static_cast<int>(options_.reconcile_max_share * report.live));
  if (report.candidates > allowed) {
    report.refused = true;
    report.message = absl::StrCat("reconcile would delete ", report.candidates, " of ",
                                  report.live, " live previews (more than ",
                                  static_cast<int>(options_.reconcile_max_share * 100),
                                  "%); deleted none. Delete them explicitly if this is right.");
    return report;
  }
  for (const auto& uid : candidates) {
    auto it = live_.find(uid);
    if (it == live_.end()) continue;
    v1::Preview p = it->second;
    if (BeginTeardown(p, "reconcile: its pull request or branch is closed or gone", "reconcile",
                      false)
            .ok()) {
      ++report.deleted;
    }
  }
  report.message = absl::StrCat("reconcile: ", report.live, " live, ", report.unknown,
                                " unknown, ", report.deleted, " torn down, ", report.orphaned,
                                " without a blueprint torn down");
  return report;
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
  std::optional<absl::Time> next;
  auto consider = [&](const std::string& text) {
    if (text.empty()) return;
    absl::Time t = ParseTime(text);
    if (!next.has_value() || t < *next) next = t;
  };
  for (const auto& [uid, p] : live_) {
    if (p.state() == v1::PREVIEW_STATE_TEARING_DOWN) consider(p.retry_time());
    if (p.state() == v1::PREVIEW_STATE_READY || p.state() == v1::PREVIEW_STATE_FAILED ||
        p.state() == v1::PREVIEW_STATE_PAUSED) {
      consider(p.expire_time());
    }
  }
  return next;
}

std::map<std::string, int> PreviewManager::CountByState() {
  absl::MutexLock lock(&mu_);
  std::map<std::string, int> out;
  for (const auto& [uid, p] : live_) {
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
