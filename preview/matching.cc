#include "preview/matching.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/glob.h"
#include "preview/preview_manager.h"
#include "storage/preview_repository.h"

namespace slipway::preview {
namespace {

bool AnyGlob(const google::protobuf::RepeatedPtrField<std::string>& globs,
             const std::string& text) {
  if (globs.empty()) return true;
  for (const auto& g : globs) {
    if (GlobMatch(g, text)) return true;
  }
  return false;
}

}  // namespace

std::string SubjectKey(const std::string& source, int64_t pull_request, const std::string& branch) {
  if (pull_request > 0) return absl::StrCat(source, "/pr:", pull_request);
  return absl::StrCat(source, "/branch:", branch);
}

const v1::PreviewBlueprint* FindBlueprint(const v1::Pipeline& pipeline, const std::string& name) {
  for (const auto& b : pipeline.preview_blueprints()) {
    if (b.name() == name) return &b;
  }
  return nullptr;
}

std::optional<EventSubject> SubjectOf(const v1::Source& source, const v1::SourceEvent& event) {
  EventSubject s;
  s.is_pr = event.kind() == v1::GIT_EVENT_KIND_PULL_REQUEST;
  s.is_push = event.kind() == v1::GIT_EVENT_KIND_PUSH;
  s.is_delete = event.kind() == v1::GIT_EVENT_KIND_BRANCH_DELETED;
  if (!s.is_pr && !s.is_push && !s.is_delete) return std::nullopt;
  const v1::PullRequestInfo& pr = event.pull_request();
  s.branch = s.is_pr ? pr.head_branch() : event.branch();
  s.key = SubjectKey(source.name(), s.is_pr ? pr.number() : 0, s.branch);
  s.closing = s.is_pr && (pr.action() == v1::PULL_REQUEST_ACTION_CLOSED ||
                          pr.action() == v1::PULL_REQUEST_ACTION_MERGED);
  return s;
}

BlueprintMatch MatchBlueprint(const v1::PreviewBlueprint& blueprint, const v1::Source& source,
                              const v1::SourceEvent& event, const EventSubject& subject) {
  BlueprintMatch m;
  const v1::PullRequestInfo& pr = event.pull_request();
  for (const auto& t : blueprint.triggers()) {
    if (subject.is_pr && t.has_pull_request() && t.pull_request().source() == source.name()) {
      m.concerned = true;
      const auto& rule = t.pull_request();
      if (!AnyGlob(rule.branches(), subject.branch)) {
        m.why_not = absl::StrCat("branch \"", subject.branch, "\" does not match");
        continue;
      }
      if (rule.ignore_drafts() && pr.draft()) {
        m.why_not = "draft pull request";
        continue;
      }
      bool labels = true;
      for (const auto& want : rule.labels()) {
        if (std::find(pr.labels().begin(), pr.labels().end(), want) == pr.labels().end()) {
          labels = false;
          m.why_not = absl::StrCat("label \"", want, "\" missing");
        }
      }
      if (labels) m.matched = true;
    }
    if ((subject.is_push || subject.is_delete) && t.has_push() &&
        t.push().source() == source.name()) {
      m.concerned = true;
      if (AnyGlob(t.push().branches(), subject.branch)) {
        m.matched = true;
      } else {
        m.why_not = absl::StrCat("branch \"", subject.branch, "\" does not match");
      }
    }
  }
  return m;
}

std::vector<v1::DeliveryMatch> PreviewManager::HandleEvent(const v1::Pipeline& pipeline,
                                                           const v1::Source& source,
                                                           const v1::SourceEvent& event,
                                                           const std::string& actor) {
  std::vector<v1::DeliveryMatch> out;
  if (pipeline.preview_blueprints().empty()) return out;
  const std::optional<EventSubject> about = SubjectOf(source, event);
  if (!about.has_value()) return out;
  const EventSubject& subject = *about;
  if (absl::Status s = Refresh(); !s.ok()) {
    v1::DeliveryMatch m;
    m.set_pipeline(pipeline.name());
    m.set_skipped(absl::StrCat("previews: ", s.message()));
    out.push_back(std::move(m));
    return out;
  }
  const v1::PullRequestInfo& pr = event.pull_request();

  absl::MutexLock lock(&mu_);
  // What this event says of its subject, for reconcile. Not recorded (a store error) only
  // means reconcile knows less, and it never deletes on missing knowledge.
  deps_.db
      ->Write([&](storage::Transaction& tx) {
        return storage::PreviewRepository().SetSubjectOpen(tx, pipeline.name(), subject.key,
                                                           !(subject.closing || subject.is_delete),
                                                           absl::ToUnixMillis(deps_.clock->Now()));
      })
      .IgnoreError();
  if (subject.is_delete) {
    // A deleted branch takes every live preview of it in this repository with it, whichever
    // blueprint made it and however (pull request, push, `slipway preview create`).
    std::vector<v1::Preview> of_branch;
    for (const v1::Preview* live : live_.OfBranch(pipeline.name(), source.name(), subject.branch)) {
      of_branch.push_back(*live);
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
    const BlueprintMatch match = MatchBlueprint(bp, source, event, subject);
    if (!match.concerned) continue;
    v1::DeliveryMatch m;
    m.set_pipeline(pipeline.name());
    m.set_blueprint(bp.name());
    const v1::Preview* existing = live_.BySubject(pipeline.name(), bp.name(), subject.key);
    if (existing != nullptr) m.set_preview(existing->name());
    const bool gone = subject.closing || subject.is_delete;
    const bool unmatched_update = !match.matched && subject.is_pr &&
                                  (pr.action() == v1::PULL_REQUEST_ACTION_LABELED ||
                                   pr.action() == v1::PULL_REQUEST_ACTION_EDITED);
    if (gone || unmatched_update) {
      if (existing == nullptr) {
        m.set_skipped(gone ? "no live preview" : match.why_not);
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
      std::string why =
          subject.closing ? (pr.action() == v1::PULL_REQUEST_ACTION_MERGED ? "pull request merged"
                                                                           : "pull request closed")
          : subject.is_delete ? "branch deleted"
                              : absl::StrCat("no longer matches: ", match.why_not);
      absl::Status s = BeginTeardown(p, why, actor, false);
      if (s.ok()) {
        m.set_preview_action("teardown");
      } else {
        m.set_skipped(std::string(s.message()));
      }
      out.push_back(std::move(m));
      continue;
    }
    if (!match.matched) {
      m.set_skipped(match.why_not);
      out.push_back(std::move(m));
      continue;
    }
    v1::PreviewSubject target;
    target.set_source(source.name());
    target.set_branch(subject.branch);
    target.set_pull_request(subject.is_pr ? pr.number() : 0);
    target.set_sha(subject.is_pr ? pr.head_sha() : event.sha());
    auto r = Upsert(pipeline, bp, subject.key, target, {}, actor);
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

}  // namespace slipway::preview
