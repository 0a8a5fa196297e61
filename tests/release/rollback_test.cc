// Rollback, holds and retention.
#include "tests/release/executor_fixture.h"

namespace slipway::release {
namespace {

TEST_F(RollbackTest, RestoresThePreviousSnapshotRecordsRollbackOfAndHoldsTheStage) {
  v1::Pipeline p = Stored();
  Deploy(p, "1");
  Deploy(p, "2");
  auto rb = Stages().Rollback(Request(), "token:oncall");
  ASSERT_OK(rb);
  EXPECT_EQ(rb->target_release(), 1);
  Settle();
  v1::Run run = Get(rb->run().id());
  EXPECT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED) << run.error();
  EXPECT_EQ(run.kind(), v1::RUN_KIND_ROLLBACK);
  EXPECT_EQ(run.release(), 3);
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 3u);
  EXPECT_EQ(releases[0].rollback_of(), 1);
  for (const auto& r : releases[0].resources()) EXPECT_EQ(r.artifact().version(), "1") << r.name();
  EXPECT_EQ(releases[0].resources(0).artifact().config().at("mode"), "m1");
  auto applies = driver_.applies();
  EXPECT_THAT(applies.back().spec.process().command(), Contains("1"));
  auto hold = Hold();
  ASSERT_TRUE(hold.has_value());
  EXPECT_EQ(hold->pinned_release(), 3);
  EXPECT_EQ(hold->held_by(), "token:oncall");
  EXPECT_THAT(hold->reason(), HasSubstr("rolled back to release 1: v2 broke checkout"));

  // A held stage refuses a manual run, unless it overrides (which is recorded and lifts it).
  EXPECT_THAT(Start(p, {{"version", "3"}}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is held")));
  // Callers tell a held stage by its typed reason, not by the text.
  EXPECT_EQ(ReasonOf(Start(p, {{"version", "3"}}).status()), ErrorReason::kStageHeld);
  StartRequest override;
  override.pipeline = p;
  override.stage = "dev";
  override.args = {{"version", "3"}};
  override.override_hold = true;
  auto forced = executor_->Start(override, "");
  ASSERT_OK(forced);
  EXPECT_TRUE(forced->hold_overridden());
  EXPECT_FALSE(Hold().has_value());
}

TEST_F(RollbackTest, ADryRunNamesTheHoldItWillPlaceAndWhatItDoesNotUndo) {
  v1::Pipeline p = Pipeline(R"([
      {ref: web, deploy: {resource: web, artifact: {version: "${args.version}"}}},
      {parallel: [
        {ref: migrate, skip_if: "true", run_job: {resource: web}},
        {ref: tell, skip_if: "true", message: {url: "http://127.0.0.1:9/", text: "hi"}}]},
      {ref: ping, skip_if: "true", http_request: {url: "http://127.0.0.1:9/"}}])");
  ASSERT_OK(db_->Write(
      [&](storage::Transaction& tx) { return storage::PipelineRepository().Insert(tx, p); }));
  Deploy(p, "1");
  Deploy(p, "2");
  auto rb = Stages().Rollback(Request(0, /*dry_run=*/true), "token:oncall");
  ASSERT_OK(rb);
  EXPECT_EQ(rb->hold().held_by(), "token:oncall");
  EXPECT_EQ(rb->hold().reason(), "rolled back to release 1: v2 broke checkout");
  EXPECT_FALSE(rb->hold().has_hold_time());
  EXPECT_THAT(rb->not_undone(),
              ElementsAre("jobs are not replayed: migrate", "HTTP calls are not replayed: ping",
                          "messages are not replayed: tell",
                          HasSubstr("releases after 1 stay in the history")));
  EXPECT_FALSE(Hold().has_value());
  // The rollback itself answers the same, and places that hold.
  auto done = Stages().Rollback(Request(), "token:oncall");
  ASSERT_OK(done);
  EXPECT_EQ(done->not_undone_size(), 4);
  Settle();
  ASSERT_TRUE(Hold().has_value());
  EXPECT_EQ(Hold()->reason(), done->hold().reason());
  EXPECT_EQ(Hold()->held_by(), done->hold().held_by());
}

TEST_F(RollbackTest, ADryRunChangesNothing) {
  v1::Pipeline p = Stored();
  Deploy(p, "1");
  Deploy(p, "2");
  int applies = driver_.applies().size();
  auto rb = Stages().Rollback(Request(0, /*dry_run=*/true), "token:oncall");
  ASSERT_OK(rb);
  EXPECT_FALSE(rb->has_run());
  ASSERT_EQ(rb->diff().resources_size(), 2);
  EXPECT_THAT(rb->diff().resources(0).changes(), Contains("artifact.config.mode: m2 -> m1"));
  EXPECT_THAT(rb->diff().resources(1).changes(), Contains("artifact.version: 2 -> 1"));
  Settle();
  EXPECT_EQ(static_cast<int>(driver_.applies().size()), applies);
  EXPECT_EQ(Releases().size(), 2u);
  EXPECT_FALSE(Hold().has_value());
  EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    EXPECT_EQ(storage::RunRepository().List(tx, {})->size(), 2u);
    return absl::OkStatus();
  }));
}

TEST_F(RollbackTest, NothingToRollBackToIsAClearError) {
  v1::Pipeline p = Stored();
  EXPECT_THAT(Stages().Rollback(Request(), "x"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("has no release")));
  Deploy(p, "1");
  EXPECT_THAT(Stages().Rollback(Request(), "x"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("nothing before it")));
  EXPECT_THAT(Stages().Rollback(Request(1), "x"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already the current")));
  EXPECT_THAT(Stages().Rollback(Request(7), "x"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("release")));
}

TEST_F(RollbackTest, APartialFailureNamesWhatDidNotApplyAndRecordsWhatDid) {
  v1::Pipeline p = Stored();
  Deploy(p, "1");
  Deploy(p, "2");
  driver_.FailNextApply("shop/dev/api", absl::UnavailableError("api host down"));
  auto rb = Stages().Rollback(Request(), "x");
  ASSERT_OK(rb);
  Settle();
  v1::Run run = Get(rb->run().id());
  EXPECT_EQ(run.state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(run.error(), HasSubstr("node \"api\" failed: api host down"));
  EXPECT_EQ(Releases().size(), 2u);
  EXPECT_FALSE(Hold().has_value());
  // The stage's recorded state is what actually runs: web went back to 1, api stayed at 2.
  EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    storage::StageResourceRepository repo;
    EXPECT_EQ((*repo.Get(tx, "shop", "dev", "web"))->artifact().version(), "1");
    EXPECT_EQ((*repo.Get(tx, "shop", "dev", "api"))->artifact().version(), "2");
    return absl::OkStatus();
  }));
}

TEST_F(RollbackTest, ARollbackInterruptedByARestartCompletesAndHolds) {
  v1::Pipeline p = Stored();
  Deploy(p, "1");
  Deploy(p, "2");
  auto rb = Stages().Rollback(Request(), "token:oncall");
  ASSERT_OK(rb);
  ASSERT_OK(executor_->Tick());  // deploys started, not finished
  Open();
  ASSERT_OK(executor_->Recover());
  Settle();
  EXPECT_EQ(Get(rb->run().id()).state(), v1::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(Hold().has_value());
  EXPECT_EQ(Hold()->pinned_release(), 3);
  EXPECT_EQ(Releases()[0].rollback_of(), 1);
}

TEST_F(RollbackTest, RetentionKeepsCurrentPreviousAndPinnedReleases) {
  v1::Pipeline p = Stored();
  p.mutable_stages(0)->mutable_retention()->set_keep_releases(2);
  p.mutable_stages(0)->mutable_retention()->mutable_keep_run_logs()->set_seconds(24 * 3600);
  ASSERT_OK(db_->Write([&](storage::Transaction& tx) {
    return storage::PipelineRepository().Update(tx, p, p.etag());
  }));
  for (int v = 1; v <= 6; ++v) Deploy(p, std::to_string(v));
  // Hold on release 2: it must survive.
  ASSERT_OK(db_->Write([&](storage::Transaction& tx) {
    v1::StageHold hold;
    hold.set_pipeline("shop");
    hold.set_stage("dev");
    hold.set_pinned_release(2);
    return storage::StageHoldRepository().Put(tx, hold);
  }));
  auto report = PruneHistory(*db_, clock_);
  ASSERT_OK(report);
  EXPECT_EQ(report->releases_deleted, 3);  // 1, 3 and 4
  std::vector<int64_t> numbers;
  for (const auto& r : Releases()) numbers.push_back(r.number());
  EXPECT_THAT(numbers, ElementsAre(6, 5, 2));
  EXPECT_EQ(report->events_deleted, 0);  // runs ended just now
  clock_.Advance(absl::Hours(25));
  report = PruneHistory(*db_, clock_);
  ASSERT_OK(report);
  EXPECT_GT(report->events_deleted, 0);
  EXPECT_EQ(report->releases_deleted, 0);
}

}  // namespace
}  // namespace slipway::release
