// Request ids for StartRun, RetryRun and RollbackStage.
#include "tests/release/executor_fixture.h"

namespace slipway::release {
namespace {

TEST_F(IdempotencyTest, TheSameIdForADifferentStageIsRefused) {
  v1::Pipeline p = Stored();
  auto first = Runs().StartRun(StartReq("dev", "ci-1"), "token:ci");
  ASSERT_OK(first);
  auto again = Runs().StartRun(StartReq("dev", "ci-1"), "token:ci");
  ASSERT_OK(again);
  EXPECT_EQ(again->id(), first->id());
  EXPECT_THAT(Runs().StartRun(StartReq("prod", "ci-1"), "token:ci"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("already used")));
  v1::StartRunRequest other_args = StartReq("dev", "ci-1");
  (*other_args.mutable_args())["version"] = "8";
  EXPECT_THAT(Runs().StartRun(other_args, "token:ci"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("already used")));
  // A rollback with an id a run start used is a different request, not the same run.
  v1::RollbackStageRequest rb = Request();
  rb.set_request_id("ci-1");
  Deploy(p, "1");
  Deploy(p, "2");
  auto rolled = Stages().Rollback(rb, "token:oncall");
  ASSERT_OK(rolled);
  EXPECT_NE(rolled->run().id(), first->id());
  EXPECT_EQ(rolled->run().kind(), v1::RUN_KIND_ROLLBACK);
}

TEST_F(IdempotencyTest, ConcurrentRetriesAllGetTheFirstRun) {
  Stored();
  constexpr int kRetries = 8;
  std::vector<absl::StatusOr<v1::Run>> got(kRetries, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kRetries; ++i) {
    threads.emplace_back(
        [&, i] { got[i] = Runs().StartRun(StartReq("dev", "ci-burst"), "token:ci"); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRetries; ++i) {
    ASSERT_OK(got[i]) << i;
    EXPECT_EQ(got[i]->id(), got[0]->id()) << i;
  }
  EXPECT_EQ(RunCount(), 1);
}

TEST_F(IdempotencyTest, ARollbackRetriedAfterANewerReleaseReturnsTheOriginalAnswer) {
  v1::Pipeline p = Stored();
  Deploy(p, "1");
  Deploy(p, "2");
  v1::RollbackStageRequest rb = Request();
  rb.set_request_id("oncall-1");
  auto first = Stages().Rollback(rb, "token:oncall");
  ASSERT_OK(first);
  EXPECT_EQ(first->target_release(), 1);
  Settle();
  // Release 3 (the rollback) is current now, and a release 4 follows it.
  StartRequest later;
  later.pipeline = p;
  later.stage = "dev";
  later.args = {{"version", "4"}};
  later.override_hold = true;
  ASSERT_OK(executor_->Start(later, ""));
  Settle();
  ASSERT_EQ(Releases().size(), 4u);

  auto retried = Stages().Rollback(rb, "token:oncall");
  ASSERT_OK(retried);
  EXPECT_EQ(retried->target_release(), first->target_release());
  EXPECT_EQ(retried->diff().SerializeAsString(), first->diff().SerializeAsString());
  EXPECT_EQ(retried->run().id(), first->run().id());
  EXPECT_EQ(retried->run().kind(), v1::RUN_KIND_ROLLBACK);
  // The same id for another rollback is refused.
  rb.set_to_release(2);
  EXPECT_THAT(Stages().Rollback(rb, "token:oncall"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("already used")));
}

}  // namespace
}  // namespace slipway::release
