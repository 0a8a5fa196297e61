// Admission is a pure function of (policy, running runs, queued runs): no store, no executor.
#include "release/admission.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace slipway::release {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

const std::vector<OtherRun> kNone;
const std::vector<OtherRun> kRunning = {{"run-a", false}};
const std::vector<OtherRun> kQueued = {{"run-b", false}, {"run-c", false}};

TEST(AdmissionTest, AnIdleStageAdmitsUnderEveryPolicy) {
  for (auto policy :
       {v1::CONCURRENCY_POLICY_ALLOW, v1::CONCURRENCY_POLICY_FORBID, v1::CONCURRENCY_POLICY_QUEUE,
        v1::CONCURRENCY_POLICY_REPLACE, v1::CONCURRENCY_POLICY_LATEST}) {
    Admission a = Admit(policy, "shop/prod", "run-new", kNone, kNone);
    EXPECT_TRUE(a.refused.ok());
    EXPECT_FALSE(a.queued) << v1::ConcurrencyPolicy_Name(policy);
    EXPECT_THAT(a.skip, IsEmpty());
    EXPECT_THAT(a.cancel, IsEmpty());
  }
}

TEST(AdmissionTest, ForbidRefusesNamingTheRunInProgress) {
  Admission a = Admit(v1::CONCURRENCY_POLICY_FORBID, "shop/prod", "run-new", kRunning, kQueued);
  EXPECT_EQ(a.refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(a.refused.message()),
              HasSubstr("stage shop/prod already has run run-a in progress"));
  a = Admit(v1::CONCURRENCY_POLICY_FORBID, "shop/prod", "run-new", kNone, kQueued);
  EXPECT_THAT(std::string(a.refused.message()), HasSubstr("run run-b"));
}

TEST(AdmissionTest, QueueWaitsBehindTheLastQueuedRun) {
  Admission a = Admit(v1::CONCURRENCY_POLICY_QUEUE, "shop/prod", "run-new", kRunning, kQueued);
  EXPECT_TRUE(a.queued);
  EXPECT_EQ(a.waiting_reason, "queued behind run run-c (policy queue)");
  a = Admit(v1::CONCURRENCY_POLICY_QUEUE, "shop/prod", "run-new", kRunning, kNone);
  EXPECT_EQ(a.waiting_reason, "queued behind run run-a (policy queue)");
}

TEST(AdmissionTest, ReplaceSkipsTheQueuedAndCancelsTheRunningOnce) {
  std::vector<OtherRun> running = {{"run-a", false}, {"run-x", true}};  // run-x is cancelling
  Admission a = Admit(v1::CONCURRENCY_POLICY_REPLACE, "shop/prod", "run-new", running, kQueued);
  EXPECT_THAT(a.skip, ElementsAre(Pair("run-b", "replaced by run run-new"),
                                  Pair("run-c", "replaced by run run-new")));
  EXPECT_THAT(a.cancel, ElementsAre(Pair("run-a", "replaced by run run-new")));
  EXPECT_TRUE(a.queued);
  EXPECT_EQ(a.waiting_reason, "waiting for run run-a to be cancelled (policy replace)");
  // Nothing running: the queued ones are replaced and the new run starts.
  a = Admit(v1::CONCURRENCY_POLICY_REPLACE, "shop/prod", "run-new", kNone, kQueued);
  EXPECT_FALSE(a.queued);
  EXPECT_EQ(a.skip.size(), 2u);
}

TEST(AdmissionTest, LatestSupersedesTheQueuedAndWaitsForTheRunning) {
  Admission a = Admit(v1::CONCURRENCY_POLICY_LATEST, "shop/prod", "run-new", kRunning, kQueued);
  EXPECT_THAT(a.skip, ElementsAre(Pair("run-b", "superseded by run run-new"),
                                  Pair("run-c", "superseded by run run-new")));
  EXPECT_THAT(a.cancel, IsEmpty());
  EXPECT_EQ(a.waiting_reason, "waiting for run run-a to finish (policy latest)");
}

TEST(AdmissionTest, AllowNeverWaits) {
  Admission a = Admit(v1::CONCURRENCY_POLICY_ALLOW, "shop/prod", "run-new", kRunning, kQueued);
  EXPECT_FALSE(a.queued);
  EXPECT_THAT(a.skip, IsEmpty());
}

TEST(AdmissionTest, TheRequestsPolicyWinsAndQueueIsTheDefault) {
  EXPECT_EQ(EffectivePolicy(v1::CONCURRENCY_POLICY_UNSPECIFIED, std::nullopt),
            v1::CONCURRENCY_POLICY_QUEUE);
  EXPECT_EQ(EffectivePolicy(v1::CONCURRENCY_POLICY_FORBID, std::nullopt),
            v1::CONCURRENCY_POLICY_FORBID);
  EXPECT_EQ(EffectivePolicy(v1::CONCURRENCY_POLICY_FORBID, v1::CONCURRENCY_POLICY_REPLACE),
            v1::CONCURRENCY_POLICY_REPLACE);
}

}  // namespace
}  // namespace slipway::release
