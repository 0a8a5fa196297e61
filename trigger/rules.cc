#include "trigger/rules.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/glob.h"
#include "common/proto_yaml.h"

namespace slipway::trigger {
namespace {

bool AnyGlob(const google::protobuf::RepeatedPtrField<std::string>& globs, const std::string& s) {
  for (const auto& g : globs) {
    if (GlobMatch(g, s)) return true;
  }
  return false;
}

}  // namespace

bool PathMatches(std::string_view pattern, std::string_view path) {
  std::string p(pattern);
  if (p.empty()) return false;
  bool dir = p.back() == '/';
  if (dir) p.pop_back();
  bool anchored = !p.empty() && p.front() == '/';
  if (anchored) p.erase(0, 1);
  if (!anchored && p.find('/') == std::string::npos) {
    // A bare name matches at any depth, as a file or as a directory on the way.
    p = "**/" + p;
  }
  if (GlobMatch(p, path)) return !dir;
  // Everything under a matching directory.
  return GlobMatch(p + "/**", path);
}

std::string SkipFlag(std::string_view message) {
  std::string lower = absl::AsciiStrToLower(std::string(message));
  for (const char* flag : {"[skip ci]", "[ci skip]", "[skip slipway]", "[slipway skip]"}) {
    if (lower.find(flag) != std::string::npos) return flag;
  }
  return "";
}

RuleResult MatchGitTrigger(const v1::GitTrigger& trigger, const v1::SourceEvent& event) {
  RuleResult r;
  v1::GitEvent want;
  switch (event.kind()) {
    case v1::GIT_EVENT_KIND_PUSH:
      want = v1::GIT_EVENT_PUSH;
      break;
    case v1::GIT_EVENT_KIND_TAG:
      want = v1::GIT_EVENT_TAG;
      break;
    case v1::GIT_EVENT_KIND_BRANCH_DELETED:
      want = v1::GIT_EVENT_BRANCH_DELETED;
      break;
    case v1::GIT_EVENT_KIND_PULL_REQUEST:
      want = v1::GIT_EVENT_PULL_REQUEST;
      break;
    default:
      r.reason = "event is not a push, tag, branch deletion or pull request";
      return r;
  }
  bool listed = trigger.events().empty() ? want == v1::GIT_EVENT_PUSH
                                         : std::find(trigger.events().begin(),
                                                     trigger.events().end(),
                                                     want) != trigger.events().end();
  if (!listed) {
    r.reason = absl::StrCat("trigger does not listen to ", event.event(), " events");
    return r;
  }
  if (want == v1::GIT_EVENT_PULL_REQUEST) {
    const v1::PullRequestAction action = event.pull_request().action();
    const bool taken =
        trigger.actions().empty()
            ? (action == v1::PULL_REQUEST_ACTION_OPENED ||
               action == v1::PULL_REQUEST_ACTION_REOPENED ||
               action == v1::PULL_REQUEST_ACTION_SYNCHRONIZED)
            : std::find(trigger.actions().begin(), trigger.actions().end(), action) !=
                  trigger.actions().end();
    if (!taken) {
      r.reason = absl::StrCat(
          "pull request action \"",
          EnumShortName(v1::PullRequestAction_descriptor()->FindValueByNumber(action)),
          "\" is not one the trigger takes",
          trigger.actions().empty() ? " (by default: opened, reopened, synchronized)" : "");
      return r;
    }
  }
  if (want == v1::GIT_EVENT_TAG) {
    if (!trigger.tags().empty() && !AnyGlob(trigger.tags(), event.tag())) {
      r.reason = absl::StrCat("tag \"", event.tag(), "\" does not match");
      return r;
    }
  } else if (!trigger.branches().empty() && !AnyGlob(trigger.branches(), event.branch())) {
    r.reason = absl::StrCat("branch \"", event.branch(), "\" does not match");
    return r;
  }
  // Path rules need the changed files; when the host did not list any (a new branch with no
  // commits, a capped commit list), the event is not filtered out.
  if (want == v1::GIT_EVENT_PUSH && event.changed_files_size() > 0) {
    const auto& include = trigger.paths().include();
    const auto& ignore = trigger.paths().ignore();
    if (!include.empty()) {
      bool any = false;
      for (const auto& f : event.changed_files()) {
        for (const auto& p : include) any = any || PathMatches(p, f);
      }
      if (!any) {
        r.reason = "no changed file matches the include paths";
        return r;
      }
    }
    if (!ignore.empty()) {
      bool any_kept = false;
      for (const auto& f : event.changed_files()) {
        bool ignored = false;
        for (const auto& p : ignore) ignored = ignored || PathMatches(p, f);
        any_kept = any_kept || !ignored;
      }
      if (!any_kept) {
        r.reason = "every changed file is ignored by the paths rules";
        return r;
      }
    }
  }
  r.matched = true;
  // A push or tag is skipped if any of its commits carries a skip flag; a pull request that
  // brings new code if its head commit does (only GitLab's payload carries that message).
  const bool new_pr_code =
      want == v1::GIT_EVENT_PULL_REQUEST &&
      (event.pull_request().action() == v1::PULL_REQUEST_ACTION_OPENED ||
       event.pull_request().action() == v1::PULL_REQUEST_ACTION_REOPENED ||
       event.pull_request().action() == v1::PULL_REQUEST_ACTION_SYNCHRONIZED);
  if (want == v1::GIT_EVENT_PUSH || want == v1::GIT_EVENT_TAG || new_pr_code) {
    for (const auto& m : event.commit_messages()) {
      std::string flag = SkipFlag(m);
      if (!flag.empty()) {
        r.skipped = true;
        r.reason = absl::StrCat("skip flag ", flag, " in a commit message");
        return r;
      }
    }
  }
  return r;
}

}  // namespace slipway::trigger
