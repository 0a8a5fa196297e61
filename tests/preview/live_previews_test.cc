// The live set's indexes and work set, and the pure budget and matching functions, without a
// store.
#include "preview/live_previews.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/proto_time.h"
#include "preview/budget.h"
#include "preview/matching.h"

namespace slipway::preview {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

const absl::Time kNow = absl::FromUnixSeconds(1'790'000'000);

v1::Preview Make(const std::string& uid, const std::string& name, v1::PreviewState state,
                 const std::string& branch = "feature/a") {
  v1::Preview p;
  p.set_uid(uid);
  p.set_name(name);
  p.set_pipeline("shop");
  p.set_blueprint("pr");
  p.set_key("app/branch:" + branch);
  p.mutable_subject()->set_source("app");
  p.mutable_subject()->set_branch(branch);
  p.set_state(state);
  return p;
}

TEST(LivePreviewsTest, OnlyPreviewsWithWorkOrADueTimerAreStepped) {
  LivePreviews live;
  for (int i = 0; i < 100; ++i) {
    live.Put(Make("pv-" + std::to_string(i), "ready-" + std::to_string(i), v1::PREVIEW_STATE_READY,
                  "b" + std::to_string(i)));
  }
  EXPECT_THAT(live.WorkAt(kNow), IsEmpty());  // a hundred ready previews: nothing to do
  EXPECT_FALSE(live.NextTimer().has_value());

  v1::Preview expiring = Make("pv-x", "expiring", v1::PREVIEW_STATE_READY, "x");
  *expiring.mutable_expire_time() = ProtoTime(kNow + absl::Hours(2));
  live.Put(expiring);
  live.Put(Make("pv-c", "creating", v1::PREVIEW_STATE_CREATING, "c"));
  v1::Preview paused = Make("pv-p", "paused", v1::PREVIEW_STATE_PAUSED, "p");
  live.Put(paused);  // its resources are still to be stopped
  EXPECT_THAT(live.WorkAt(kNow), UnorderedElementsAre("pv-c", "pv-p"));
  EXPECT_EQ(live.NextTimer(), kNow + absl::Hours(2));
  EXPECT_THAT(live.WorkAt(kNow + absl::Hours(2)), UnorderedElementsAre("pv-c", "pv-p", "pv-x"));

  paused.set_stopped(true);
  live.Put(paused);
  v1::Preview created = Make("pv-c", "creating", v1::PREVIEW_STATE_READY, "c");
  live.Put(created);
  EXPECT_THAT(live.WorkAt(kNow), IsEmpty());
  // A preview without an expiry time is never due (and does not wake anyone).
  v1::Preview garbled = expiring;
  garbled.clear_expire_time();
  live.Put(garbled);
  EXPECT_FALSE(live.NextTimer().has_value());
  v1::Preview gone = garbled;
  gone.set_state(v1::PREVIEW_STATE_DELETED);
  live.Put(gone);
  EXPECT_EQ(live.ByUid("pv-x"), nullptr);
  EXPECT_EQ(live.ByName("expiring"), nullptr);
  EXPECT_EQ(live.size(), 102u);
}

TEST(LivePreviewsTest, IndexesFollowRenamesAndSubjects) {
  LivePreviews live;
  live.Put(Make("pv-1", "one", v1::PREVIEW_STATE_READY, "feature/a"));
  v1::Preview two = Make("pv-2", "two", v1::PREVIEW_STATE_QUEUED, "feature/a");
  two.set_blueprint("docs");
  live.Put(two);
  ASSERT_NE(live.ByName("one"), nullptr);
  EXPECT_EQ(live.ByName("one")->uid(), "pv-1");
  EXPECT_EQ(live.BySubject("shop", "pr", "app/branch:feature/a")->uid(), "pv-1");
  EXPECT_EQ(live.BySubject("shop", "docs", "app/branch:feature/a")->uid(), "pv-2");
  EXPECT_EQ(live.OfBranch("shop", "app", "feature/a").size(), 2u);
  EXPECT_EQ(live.OfBlueprint("shop", "pr").size(), 1u);
  // Replaced under the same uid with another name and branch: the old entries are gone.
  v1::Preview moved = Make("pv-1", "uno", v1::PREVIEW_STATE_READY, "feature/b");
  live.Put(moved);
  EXPECT_EQ(live.ByName("one"), nullptr);
  EXPECT_EQ(live.ByName("uno")->uid(), "pv-1");
  EXPECT_EQ(live.BySubject("shop", "pr", "app/branch:feature/a"), nullptr);
  EXPECT_EQ(live.OfBranch("shop", "app", "feature/a").size(), 1u);
  live.Erase("pv-2");
  EXPECT_THAT(live.OfBranch("shop", "app", "feature/a"), IsEmpty());
  EXPECT_THAT(live.OfBlueprint("shop", "docs"), IsEmpty());
}

TEST(BudgetTest, AFullBudgetQueuesEvictsOrRejectsByPolicy) {
  v1::PreviewBudget budget;
  EXPECT_EQ(DecideBudget(budget, 1000), BudgetDecision::kAdmit);  // no limit
  budget.set_max_active(2);
  EXPECT_EQ(DecideBudget(budget, 1), BudgetDecision::kAdmit);
  EXPECT_EQ(DecideBudget(budget, 2), BudgetDecision::kReject);  // the default policy
  budget.set_when_full(v1::WHEN_FULL_QUEUE);
  EXPECT_EQ(DecideBudget(budget, 2), BudgetDecision::kQueue);
  budget.set_when_full(v1::WHEN_FULL_EVICT_OLDEST);
  EXPECT_EQ(DecideBudget(budget, 3), BudgetDecision::kEvictOldest);
}

TEST(MatchingTest, PullRequestRulesSayWhyTheyRefuse) {
  v1::Source source;
  source.set_name("app");
  v1::PreviewBlueprint bp;
  auto* rule = bp.add_triggers()->mutable_pull_request();
  rule->set_source("app");
  rule->add_branches("feature/**");
  rule->set_ignore_drafts(true);
  rule->add_labels("preview");
  v1::SourceEvent e;
  e.set_kind(v1::GIT_EVENT_KIND_PULL_REQUEST);
  e.mutable_pull_request()->set_number(12);
  e.mutable_pull_request()->set_head_branch("fix/typo");
  auto subject = SubjectOf(source, e);
  ASSERT_TRUE(subject.has_value());
  EXPECT_EQ(subject->key, "app/pr:12");
  BlueprintMatch m = MatchBlueprint(bp, source, e, *subject);
  EXPECT_TRUE(m.concerned);
  EXPECT_FALSE(m.matched);
  EXPECT_EQ(m.why_not, "branch \"fix/typo\" does not match");
  e.mutable_pull_request()->set_head_branch("feature/login");
  subject = SubjectOf(source, e);
  EXPECT_EQ(MatchBlueprint(bp, source, e, *subject).why_not, "label \"preview\" missing");
  e.mutable_pull_request()->add_labels("preview");
  EXPECT_TRUE(MatchBlueprint(bp, source, e, *subject).matched);
  e.mutable_pull_request()->set_draft(true);
  EXPECT_EQ(MatchBlueprint(bp, source, e, *subject).why_not, "draft pull request");
  // Another source's events do not concern the blueprint; tags concern no preview.
  source.set_name("other");
  EXPECT_FALSE(MatchBlueprint(bp, source, e, *SubjectOf(source, e)).concerned);
  v1::SourceEvent tag;
  tag.set_kind(v1::GIT_EVENT_KIND_TAG);
  EXPECT_FALSE(SubjectOf(source, tag).has_value());
}

}  // namespace
}  // namespace slipway::preview
