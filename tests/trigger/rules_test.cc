#include "trigger/rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace slipway::trigger {
namespace {

using ::testing::HasSubstr;

TEST(PathRulesTest, GitignoreSemantics) {
  EXPECT_TRUE(PathMatches("*.md", "README.md"));
  EXPECT_TRUE(PathMatches("*.md", "docs/guide/intro.md"));   // bare name: any depth
  EXPECT_FALSE(PathMatches("/*.md", "docs/intro.md"));       // anchored at the root
  EXPECT_TRUE(PathMatches("/*.md", "README.md"));
  EXPECT_TRUE(PathMatches("docs/", "docs/a/b.txt"));         // directory: everything under it
  EXPECT_FALSE(PathMatches("docs/", "src/docs.txt"));
  EXPECT_TRUE(PathMatches("src/**", "src/a/b/c.cc"));
  EXPECT_TRUE(PathMatches("node_modules", "web/node_modules/x/index.js"));
  EXPECT_FALSE(PathMatches("src/*.cc", "src/a/b.cc"));
}

TEST(SkipFlagTest, RecognisesEveryFlagCaseInsensitively) {
  EXPECT_EQ(SkipFlag("docs: typo [skip ci]"), "[skip ci]");
  EXPECT_EQ(SkipFlag("[CI SKIP] tidy"), "[ci skip]");
  EXPECT_EQ(SkipFlag("wip [skip slipway]"), "[skip slipway]");
  EXPECT_EQ(SkipFlag("fix: skip ci flakes"), "");
}

v1::SourceEvent Push(const std::string& branch, std::vector<std::string> files,
                     std::vector<std::string> messages = {"change"}) {
  v1::SourceEvent e;
  e.set_kind(v1::GIT_EVENT_KIND_PUSH);
  e.set_event("push");
  e.set_branch(branch);
  for (auto& f : files) e.add_changed_files(f);
  for (auto& m : messages) e.add_commit_messages(m);
  return e;
}

TEST(MatchGitTriggerTest, BranchesTagsAndEvents) {
  v1::GitTrigger t;
  t.add_branches("main");
  t.add_branches("release/*");
  EXPECT_TRUE(MatchGitTrigger(t, Push("main", {"a"})).matched);
  EXPECT_TRUE(MatchGitTrigger(t, Push("release/1.2", {"a"})).matched);
  auto no = MatchGitTrigger(t, Push("release/1.2/hotfix", {"a"}));
  EXPECT_FALSE(no.matched);
  EXPECT_THAT(no.reason, HasSubstr("branch \"release/1.2/hotfix\" does not match"));

  v1::SourceEvent tag;
  tag.set_kind(v1::GIT_EVENT_KIND_TAG);
  tag.set_event("push");
  tag.set_tag("v1.4.2");
  EXPECT_FALSE(MatchGitTrigger(t, tag).matched);  // listens to pushes only (the default)
  v1::GitTrigger tags;
  tags.add_events(v1::GIT_EVENT_TAG);
  tags.add_tags("v*");
  EXPECT_TRUE(MatchGitTrigger(tags, tag).matched);
  tag.set_tag("nightly");
  EXPECT_FALSE(MatchGitTrigger(tags, tag).matched);

  v1::SourceEvent deleted;
  deleted.set_kind(v1::GIT_EVENT_KIND_BRANCH_DELETED);
  deleted.set_branch("main");
  EXPECT_FALSE(MatchGitTrigger(t, deleted).matched);
  v1::GitTrigger on_delete;
  on_delete.add_events(v1::GIT_EVENT_BRANCH_DELETED);
  EXPECT_TRUE(MatchGitTrigger(on_delete, deleted).matched);
}

TEST(MatchGitTriggerTest, PathRulesInIncludeAndIgnoreModes) {
  v1::GitTrigger include;
  include.mutable_paths()->add_include("src/**");
  EXPECT_TRUE(MatchGitTrigger(include, Push("main", {"README.md", "src/app.cc"})).matched);
  EXPECT_FALSE(MatchGitTrigger(include, Push("main", {"README.md"})).matched);
  v1::GitTrigger ignore;
  ignore.mutable_paths()->add_ignore("*.md");
  ignore.mutable_paths()->add_ignore("docs/");
  EXPECT_FALSE(MatchGitTrigger(ignore, Push("main", {"README.md", "docs/a.txt"})).matched);
  EXPECT_TRUE(MatchGitTrigger(ignore, Push("main", {"README.md", "src/a.cc"})).matched);
  // No file list (a new branch with no commits): not filtered out.
  EXPECT_TRUE(MatchGitTrigger(include, Push("main", {})).matched);
}

TEST(MatchGitTriggerTest, AnyCommitWithASkipFlagSkipsThePush) {
  v1::GitTrigger t;
  auto r = MatchGitTrigger(t, Push("main", {"a"}, {"feat: x", "docs [skip ci]"}));
  EXPECT_TRUE(r.matched);
  EXPECT_TRUE(r.skipped);
  EXPECT_THAT(r.reason, HasSubstr("[skip ci]"));
}

TEST(MatchGitTriggerTest, APullRequestWhoseHeadCommitCarriesASkipFlagIsSkipped) {
  v1::GitTrigger t;
  t.add_events(v1::GIT_EVENT_PULL_REQUEST);
  v1::SourceEvent pr;
  pr.set_kind(v1::GIT_EVENT_KIND_PULL_REQUEST);
  pr.set_branch("feature/x");
  pr.add_commit_messages("tidy up [skip slipway]");
  for (auto action : {v1::PULL_REQUEST_ACTION_OPENED, v1::PULL_REQUEST_ACTION_REOPENED,
                      v1::PULL_REQUEST_ACTION_SYNCHRONIZED}) {
    pr.mutable_pull_request()->set_action(action);
    auto r = MatchGitTrigger(t, pr);
    EXPECT_TRUE(r.matched);
    EXPECT_TRUE(r.skipped) << action;
    EXPECT_THAT(r.reason, HasSubstr("[skip slipway]"));
  }
  // Closing or merging brings no new code: the head commit's flag does not hold it back.
  pr.mutable_pull_request()->set_action(v1::PULL_REQUEST_ACTION_CLOSED);
  EXPECT_FALSE(MatchGitTrigger(t, pr).skipped);
  pr.mutable_pull_request()->set_action(v1::PULL_REQUEST_ACTION_SYNCHRONIZED);
  pr.set_commit_messages(0, "tidy up");
  EXPECT_FALSE(MatchGitTrigger(t, pr).skipped);
}

TEST(MatchGitTriggerTest, PullRequestsMatchTheirHeadBranch) {
  v1::GitTrigger t;
  t.add_events(v1::GIT_EVENT_PULL_REQUEST);
  t.add_branches("feature/**");
  v1::SourceEvent pr;
  pr.set_kind(v1::GIT_EVENT_KIND_PULL_REQUEST);
  pr.mutable_pull_request()->set_action(v1::PULL_REQUEST_ACTION_OPENED);
  pr.set_branch("feature/login/ui");
  EXPECT_TRUE(MatchGitTrigger(t, pr).matched);
  pr.set_branch("main");
  EXPECT_FALSE(MatchGitTrigger(t, pr).matched);
}

TEST(MatchGitTriggerTest, ByDefaultAPullRequestStartsARunOnlyWhenItBringsCodeThatIsStillOpen) {
  v1::GitTrigger t;
  t.add_events(v1::GIT_EVENT_PULL_REQUEST);
  v1::SourceEvent pr;
  pr.set_kind(v1::GIT_EVENT_KIND_PULL_REQUEST);
  pr.set_branch("feature");
  for (auto action : {v1::PULL_REQUEST_ACTION_OPENED, v1::PULL_REQUEST_ACTION_REOPENED,
                      v1::PULL_REQUEST_ACTION_SYNCHRONIZED}) {
    pr.mutable_pull_request()->set_action(action);
    EXPECT_TRUE(MatchGitTrigger(t, pr).matched) << action;
  }
  for (auto action : {v1::PULL_REQUEST_ACTION_CLOSED, v1::PULL_REQUEST_ACTION_MERGED,
                      v1::PULL_REQUEST_ACTION_LABELED, v1::PULL_REQUEST_ACTION_EDITED}) {
    pr.mutable_pull_request()->set_action(action);
    RuleResult r = MatchGitTrigger(t, pr);
    EXPECT_FALSE(r.matched) << action;
    EXPECT_THAT(r.reason, ::testing::HasSubstr("is not one the trigger takes")) << action;
  }
}

TEST(MatchGitTriggerTest, ListedActionsAreTheOnlyOnesTaken) {
  v1::GitTrigger t;
  t.add_events(v1::GIT_EVENT_PULL_REQUEST);
  t.add_actions(v1::PULL_REQUEST_ACTION_MERGED);
  v1::SourceEvent pr;
  pr.set_kind(v1::GIT_EVENT_KIND_PULL_REQUEST);
  pr.set_branch("feature");
  pr.mutable_pull_request()->set_action(v1::PULL_REQUEST_ACTION_MERGED);
  EXPECT_TRUE(MatchGitTrigger(t, pr).matched);
  pr.mutable_pull_request()->set_action(v1::PULL_REQUEST_ACTION_OPENED);
  EXPECT_FALSE(MatchGitTrigger(t, pr).matched);
  pr.mutable_pull_request()->set_action(v1::PULL_REQUEST_ACTION_CLOSED);
  EXPECT_THAT(MatchGitTrigger(t, pr).reason, ::testing::HasSubstr("\"closed\""));
}

}  // namespace
}  // namespace slipway::trigger
