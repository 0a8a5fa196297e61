// The executor: flows, attempts, retries, timeouts, policies, approvals, restarts, StartAll.
#include <chrono>
#include <future>

#include "absl/strings/match.h"
#include "storage/run_command_repository.h"
#include "tests/release/executor_fixture.h"

namespace slipway::release {
namespace {

TEST_F(ExecutorTest, SequentialFlowDeploysAndRecordsARelease) {
  http_.SetStatus("http://chat", 200);
  auto p = Pipeline(R"([
        {ref: web, deploy: {resource: web, artifact: {version: "${args.version}", sha: "${trigger.sha}"}}},
        {ref: tell, message: {url: "http://chat", text: "web is at ${refs.web.version}"}}])");
  auto run = Start(p, {{"version", "1.4.2"}});
  ASSERT_OK(run);
  EXPECT_EQ(run->state(), v1::RUN_STATE_PENDING);
  Settle();
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(done.release(), 1);
  EXPECT_EQ(Node(done, "web").outputs().at("version"), "1.4.2");
  ASSERT_EQ(driver_.applies().size(), 1u);
  const deploy::DeployRequest applied = driver_.applies()[0];
  EXPECT_EQ(applied.key, "shop/dev/web");
  EXPECT_THAT(applied.spec.process().command(), ElementsAre("web", "--version", "1.4.2"));
  EXPECT_EQ(applied.env.at("SLIPWAY_ARTIFACT_VERSION"), "1.4.2");
  ASSERT_EQ(http_.requests().size(), 1u);
  EXPECT_EQ(http_.requests()[0].body, R"({"text":"web is at 1.4.2"})");
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].run_id(), run->id());
  EXPECT_EQ(releases[0].pipeline_revision(), 3);
  ASSERT_EQ(releases[0].resources_size(), 1);
  EXPECT_EQ(releases[0].resources(0).artifact().version(), "1.4.2");
  EXPECT_EQ(executor_->ActiveRuns(), 0);
}

TEST_F(ExecutorTest, AFailingFlowCheckCreatesNoRun) {
  auto p =
      Pipeline(R"([{ref: web, deploy: {resource: web, artifact: {version: "${args.version}"}}}])");
  EXPECT_THAT(Start(p), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("argument \"version\" was not given")));
  EXPECT_EQ(executor_->ActiveRuns(), 0);
  Settle();
  EXPECT_TRUE(driver_.applies().empty());
  EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    EXPECT_TRUE(storage::RunRepository().List(tx, {})->empty());
    return absl::OkStatus();
  }));
}

TEST_F(ExecutorTest, ArgumentsComeFromTheRunThenTheOverridesThenTheDefaults) {
  auto p = Pipeline(R"([
        {ref: web, deploy: {resource: web, artifact: {version: "${args.version}", config: {region: "${args.region}", key: "${args.key}"}}}}])");
  auto* version = p.add_arguments();
  version->set_name("version");
  version->set_default_("0.0.0-${short_sha(trigger.sha)}");
  auto* region = p.add_arguments();
  region->set_name("region");
  region->set_default_("us");
  auto* key = p.add_arguments();
  key->set_name("key");
  key->set_secret(true);
  key->set_required(true);
  (*p.mutable_secret_argument_overrides())["key"] = "k-secret";
  // The default is derived from the commit; the override beats the default.
  (*p.mutable_argument_overrides())["region"] = "eu";
  auto run = Start(p);
  ASSERT_OK(run);
  EXPECT_EQ(run->args().at("version"), "0.0.0-3f2c9a1");
  EXPECT_EQ(run->args().at("region"), "eu");
  // A secret argument is kept apart, so responses show it as "***".
  EXPECT_FALSE(run->args().contains("key"));
  EXPECT_EQ(run->secret_args().at("key"), "k-secret");
  Settle();
  ASSERT_EQ(driver_.applies().size(), 1u);
  EXPECT_EQ(Get(run->id()).state(), v1::RUN_STATE_SUCCEEDED) << Get(run->id()).error();
  // The run's own values beat both.
  auto second = Start(p, {{"version", "2.0.0"}, {"region", "ap"}});
  ASSERT_OK(second);
  EXPECT_EQ(second->args().at("version"), "2.0.0");
  EXPECT_EQ(second->args().at("region"), "ap");
  // A required argument nobody gives refuses the run before it exists.
  p.clear_secret_argument_overrides();
  EXPECT_THAT(Start(p), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("args.key: required by pipeline \"shop\"")));
}

TEST_F(ExecutorTest, RetriesWithExponentialBackoffThenSucceeds) {
  driver_.FailNextApply("shop/dev/web", absl::UnavailableError("port busy"));
  driver_.FailNextApply("shop/dev/web", absl::UnavailableError("port busy"));
  auto p =
      Pipeline(R"([{ref: web, retry: {max_attempts: 3, backoff: 5s}, deploy: {resource: web}}])");
  auto run = Start(p);
  ASSERT_OK(run);
  Settle();
  EXPECT_EQ(Node(Get(run->id()), "web").state(), v1::NODE_STATE_WAITING);
  EXPECT_EQ(Node(Get(run->id()), "web").attempts(), 1);
  clock_.Advance(absl::Seconds(4));
  Settle();
  EXPECT_EQ(driver_.applies().size(), 1u);
  clock_.Advance(absl::Seconds(1));
  Settle();
  EXPECT_EQ(driver_.applies().size(), 2u);
  // Second backoff is doubled: 10 s.
  clock_.Advance(absl::Seconds(9));
  Settle();
  EXPECT_EQ(driver_.applies().size(), 2u);
  clock_.Advance(absl::Seconds(1));
  Settle();
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Node(done, "web").attempts(), 3);
}

TEST_F(ExecutorTest, ExhaustedRetriesFailTheRunAndLeaveNoRelease) {
  for (int i = 0; i < 2; ++i) driver_.FailNextApply("shop/dev/web", absl::UnavailableError("no"));
  auto p = Pipeline(R"([
        {ref: web, retry: {max_attempts: 2, backoff: 1s}, deploy: {resource: web}},
        {ref: after, sleep: {duration: 1s}}])");
  auto run = Start(p);
  ASSERT_OK(run);
  Settle();
  clock_.Advance(absl::Seconds(1));
  Settle();
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(done.error(), HasSubstr("node \"web\" failed: no"));
  EXPECT_EQ(Node(done, "after").state(), v1::NODE_STATE_SKIPPED);
  EXPECT_TRUE(Releases().empty());
  EXPECT_EQ(done.release(), 0);
}

TEST_F(ExecutorTest, ANodeThatOutlivesItsTimeoutFails) {
  auto p = Pipeline(R"([{ref: web, timeout: 30s, deploy: {resource: web}}])");
  auto run = Start(p);
  ASSERT_OK(run);
  ASSERT_OK(executor_->Tick());
  EXPECT_EQ(tasks_.pending(), 1);  // the deploy never returns
  clock_.Advance(absl::Seconds(29));
  ASSERT_OK(executor_->Tick());
  EXPECT_EQ(Get(run->id()).state(), v1::RUN_STATE_RUNNING);
  clock_.Advance(absl::Seconds(1));
  ASSERT_OK(executor_->Tick());
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(Node(done, "web").error(), HasSubstr("timed out after 30s"));
  // The late result still records what the workload runs now.
  tasks_.RunAll();
  ASSERT_OK(executor_->Tick());
  EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    EXPECT_TRUE(storage::StageResourceRepository().Get(tx, "shop", "dev", "web")->has_value());
    return absl::OkStatus();
  }));
}

TEST_F(ExecutorTest, ARunLeavesTheActiveSetWhenItsLastLateResultArrives) {
  auto p = Pipeline(R"([{ref: web, timeout: 30s, deploy: {resource: web}}])");
  driver_.FailNextApply("shop/dev/web", absl::UnavailableError("host down"));
  auto run = Start(p);
  ASSERT_OK(run);
  ASSERT_OK(executor_->Tick());
  clock_.Advance(absl::Seconds(30));
  ASSERT_OK(executor_->Tick());
  EXPECT_EQ(Get(run->id()).state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(executor_->ActiveRuns(), 1);  // its deploy is still out
  EXPECT_EQ(executor_->RunsInProgress("shop", "dev").size(), 1u);
  tasks_.RunAll();  // the deploy's late failure: nothing left to record
  ASSERT_OK(executor_->Tick());
  EXPECT_EQ(executor_->ActiveRuns(), 0);
  EXPECT_TRUE(executor_->RunsInProgress("shop", "dev").empty());
}

TEST_F(ExecutorTest, AParallelFailureFailsTheRunAfterItsSiblingsFinish) {
  driver_.FailNextApply("shop/dev/web", absl::InternalError("crashed"));
  auto p = Pipeline(R"([
        {parallel: [{ref: web, deploy: {resource: web}}, {ref: api, deploy: {resource: api}}]},
        {ref: next, sleep: {duration: 1s}}])");
  auto run = Start(p);
  ASSERT_OK(run);
  Settle();
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(Node(done, "api").state(), v1::NODE_STATE_SUCCEEDED);
  EXPECT_EQ(Node(done, "next").state(), v1::NODE_STATE_SKIPPED);
  EXPECT_EQ(driver_.applies().size(), 2u);
}

TEST_F(ExecutorTest, CancelStopsPendingWork) {
  auto p = Pipeline(R"([{ref: wait, sleep: {duration: 1h}}, {ref: web, deploy: {resource: web}}])");
  auto run = Start(p);
  ASSERT_OK(run);
  Settle();
  auto cancelled = executor_->Cancel(run->id(), "bob", "wrong build");
  ASSERT_OK(cancelled);
  Settle();
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(done.cancelled_by(), "bob");
  EXPECT_THAT(done.error(), HasSubstr("wrong build"));
  EXPECT_EQ(Node(done, "web").state(), v1::NODE_STATE_CANCELLED);
  EXPECT_TRUE(driver_.applies().empty());
  EXPECT_THAT(executor_->Cancel(run->id(), "bob", ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already ended")));
}

TEST_F(ExecutorTest, PolicyForbidRejectsASecondRunNamingTheFirst) {
  auto p = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "forbid");
  auto first = Start(p);
  ASSERT_OK(first);
  EXPECT_THAT(Start(p), StatusIs(absl::StatusCode::kFailedPrecondition,
                                 HasSubstr("already has run " + first->id())));
}

TEST_F(ExecutorTest, PolicyQueueRunsOneAtATimeInOrder) {
  auto p = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "queue");
  auto a = Start(p);
  auto b = Start(p);
  auto c = Start(p);
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(c);
  Settle();
  EXPECT_EQ(Get(a->id()).state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(Get(b->id()).state(), v1::RUN_STATE_QUEUED);
  EXPECT_THAT(Get(b->id()).waiting_reason(), HasSubstr("queued behind run " + a->id()));
  EXPECT_THAT(Get(c->id()).waiting_reason(), HasSubstr("queued behind run " + b->id()));
  clock_.Advance(absl::Minutes(1));
  Settle();
  EXPECT_EQ(Get(a->id()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Get(b->id()).state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(Get(c->id()).state(), v1::RUN_STATE_QUEUED);
  clock_.Advance(absl::Minutes(1));
  Settle();
  clock_.Advance(absl::Minutes(1));
  Settle();
  EXPECT_EQ(Get(c->id()).state(), v1::RUN_STATE_SUCCEEDED);
}

TEST_F(ExecutorTest, EachRunsTimedWorkWakesItAndNextWakeFollowsTheEarliest) {
  auto p = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "allow");
  const absl::Time t0 = clock_.Now();
  auto a = Start(p);
  ASSERT_OK(a);
  Settle();
  clock_.Advance(absl::Seconds(20));
  auto b = Start(p);
  ASSERT_OK(b);
  Settle();
  EXPECT_EQ(executor_->NextWake(), t0 + absl::Minutes(1));

  clock_.Advance(absl::Seconds(40));  // a's sleep is over, b's is not
  Settle();
  EXPECT_EQ(Get(a->id()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Get(b->id()).state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(executor_->NextWake(), t0 + absl::Seconds(80));

  ASSERT_OK(executor_->Cancel(b->id(), "bob", ""));
  Settle();
  EXPECT_EQ(Get(b->id()).state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(executor_->NextWake(), std::nullopt);  // nothing timed is left
  EXPECT_EQ(executor_->ActiveRuns(), 0);
}

TEST_F(ExecutorTest, RunsWaitingForApprovalAreLeftAloneWhileOthersComeAndGo) {
  auto gated =
      Pipeline(R"([{ref: ok, approval: {}}, {ref: web, deploy: {resource: web}}])", "allow");
  std::vector<std::string> waiting;
  for (int i = 0; i < 50; ++i) {
    auto r = Start(gated);
    ASSERT_OK(r);
    waiting.push_back(r->id());
  }
  Settle();
  EXPECT_EQ(executor_->NextWake(), std::nullopt);  // approvals have no timer
  const int64_t events_before = Get(waiting.front()).last_event();
  // Other runs of the same stage start and finish around them.
  auto quick = Pipeline(R"([{ref: web, deploy: {resource: web}}])", "allow");
  for (int i = 0; i < 5; ++i) {
    auto r = Start(quick);
    ASSERT_OK(r);
    Settle();
    EXPECT_EQ(Get(r->id()).state(), v1::RUN_STATE_SUCCEEDED);
  }
  EXPECT_EQ(Get(waiting.front()).state(), v1::RUN_STATE_AWAITING_APPROVAL);
  EXPECT_EQ(Get(waiting.front()).last_event(), events_before);
  EXPECT_EQ(executor_->ActiveRuns(), 50);
  EXPECT_EQ(executor_->RunsInProgress("shop", "dev").size(), 50u);
  // An approval moves exactly that run on.
  ASSERT_OK(executor_->Approve(waiting[7], "ok", "carol", "", false));
  Settle();
  EXPECT_EQ(Get(waiting[7]).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Get(waiting[8]).state(), v1::RUN_STATE_AWAITING_APPROVAL);
  EXPECT_EQ(executor_->ActiveRuns(), 49);
}

TEST_F(ExecutorTest, QueuedRunsOfDifferentStagesArePromotedEachInTheirOwnStage) {
  auto p = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "queue");
  v1::Pipeline other = p;
  other.set_name("shop2");
  auto a1 = Start(p), a2 = Start(p), b1 = Start(other), b2 = Start(other);
  ASSERT_OK(a1);
  ASSERT_OK(a2);
  ASSERT_OK(b1);
  ASSERT_OK(b2);
  Settle();
  EXPECT_EQ(Get(a2->id()).state(), v1::RUN_STATE_QUEUED);
  EXPECT_EQ(Get(b2->id()).state(), v1::RUN_STATE_QUEUED);
  ASSERT_OK(executor_->Cancel(b1->id(), "bob", ""));  // frees shop2/dev only
  Settle();
  EXPECT_EQ(Get(a2->id()).state(), v1::RUN_STATE_QUEUED);
  EXPECT_EQ(Get(b2->id()).state(), v1::RUN_STATE_RUNNING);
  clock_.Advance(absl::Minutes(1));  // a1 ends; b2 has slept a minute too
  Settle();
  EXPECT_EQ(Get(a1->id()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Get(a2->id()).state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(Get(b2->id()).state(), v1::RUN_STATE_SUCCEEDED);
}

TEST_F(ExecutorTest, PolicyReplaceCancelsTheActiveRun) {
  auto p = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "replace");
  auto a = Start(p);
  ASSERT_OK(a);
  Settle();
  auto b = Start(p);
  ASSERT_OK(b);
  Settle();
  EXPECT_EQ(Get(a->id()).state(), v1::RUN_STATE_CANCELLED);
  EXPECT_THAT(Get(a->id()).error(), HasSubstr("replaced by run " + b->id()));
  EXPECT_EQ(Get(b->id()).state(), v1::RUN_STATE_RUNNING);
}

TEST_F(ExecutorTest, PolicyLatestKeepsOnlyTheNewestQueuedRun) {
  auto p = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "latest");
  auto a = Start(p);
  auto b = Start(p);
  auto c = Start(p);
  Settle();
  EXPECT_EQ(Get(a->id()).state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(Get(b->id()).state(), v1::RUN_STATE_SKIPPED);
  EXPECT_THAT(Get(b->id()).error(), HasSubstr("superseded by run " + c->id()));
  EXPECT_EQ(Get(c->id()).state(), v1::RUN_STATE_QUEUED);
  clock_.Advance(absl::Minutes(1));
  Settle();
  EXPECT_EQ(Get(c->id()).state(), v1::RUN_STATE_RUNNING);
}

TEST_F(ExecutorTest, PolicyAllowRunsInParallel) {
  auto p = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "allow");
  auto a = Start(p);
  auto b = Start(p);
  Settle();
  EXPECT_EQ(Get(a->id()).state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(Get(b->id()).state(), v1::RUN_STATE_RUNNING);
}

TEST_F(ExecutorTest, ApprovalsNeedDistinctApproversOtherThanTheInitiator) {
  auto p =
      Pipeline(R"([{ref: go, approval: {approvals: 2}}, {ref: web, deploy: {resource: web}}])");
  auto run = Start(p, {}, "dev", "", "alice");
  ASSERT_OK(run);
  Settle();
  EXPECT_EQ(Get(run->id()).state(), v1::RUN_STATE_AWAITING_APPROVAL);
  EXPECT_THAT(executor_->Approve(run->id(), "go", "alice", "", false),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("initiator")));
  ASSERT_OK(executor_->Approve(run->id(), "go", "bob", "lgtm", false));
  EXPECT_THAT(executor_->Approve(run->id(), "go", "bob", "", false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already approved")));
  Settle();
  EXPECT_TRUE(driver_.applies().empty());
  ASSERT_OK(executor_->Approve(run->id(), "go", "carol", "", false));
  Settle();
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Node(done, "go").outputs().at("approved_by"), "bob,carol");
  EXPECT_THAT(executor_->Approve(run->id(), "nope", "dave", "", false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not in progress")));
}

TEST_F(ExecutorTest, StageProtectionRequiresApprovalsBeforeTheFlow) {
  auto p = Pipeline(R"([{ref: web, deploy: {resource: web}}])");
  p.mutable_stages(0)->mutable_protection()->set_required_approvals(1);
  auto run = Start(p);
  ASSERT_OK(run);
  Settle();
  EXPECT_EQ(Get(run->id()).state(), v1::RUN_STATE_AWAITING_APPROVAL);
  EXPECT_TRUE(driver_.applies().empty());
  ASSERT_OK(executor_->Approve(run->id(), "protection", "bob", "", false));
  Settle();
  EXPECT_EQ(Get(run->id()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(driver_.applies().size(), 1u);
}

TEST_F(ExecutorTest, ARejectionFailsTheRun) {
  auto p = Pipeline(R"([{ref: go, approval: {}}, {ref: web, deploy: {resource: web}}])");
  auto run = Start(p);
  ASSERT_OK(run);
  Settle();
  ASSERT_OK(executor_->Approve(run->id(), "go", "bob", "not today", true));
  Settle();
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(done.error(), HasSubstr("rejected by bob: not today"));
  EXPECT_TRUE(driver_.applies().empty());
}

TEST_F(ExecutorTest, PromoteCopiesWhatTheEarlierStageRuns) {
  auto p = Pipeline(R"([{ref: web, deploy: {resource: web, artifact: {version: "2.0"}}}])");
  ASSERT_OK(Start(p));
  Settle();
  auto promoted = Start(p, {}, "prod");
  ASSERT_OK(promoted);
  Settle();
  v1::Run done = Get(promoted->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(Node(done, "web").outputs().at("version"), "2.0");
  EXPECT_EQ(driver_.applies().back().key, "shop/prod/web");
  EXPECT_THAT(driver_.applies().back().spec.process().command(),
              ElementsAre("web", "--version", "2.0"));
  ASSERT_EQ(Releases("prod").size(), 1u);
  EXPECT_EQ(Releases("prod")[0].resources(0).artifact().version(), "2.0");
}

TEST_F(ExecutorTest, PromoteWithNothingToPromoteFailsClearly) {
  auto p = Pipeline(R"([{ref: web, deploy: {resource: web}}])");
  auto run = Start(p, {}, "prod");
  ASSERT_OK(run);
  Settle();
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(done.error(), HasSubstr("stage \"dev\" has never deployed \"web\""));
}

TEST_F(ExecutorTest, AwaitConditionPollsUntilTrueOrTimesOut) {
  auto p = Pipeline(R"([
        {ref: web, deploy: {resource: web}},
        {ref: ready, timeout: 10s, await_condition: {interval: 2s, http: {resource: web, path: /healthz}}}])");
  auto run = Start(p);
  ASSERT_OK(run);
  Settle();
  EXPECT_EQ(Node(Get(run->id()), "ready").state(), v1::NODE_STATE_WAITING);
  http_.SetStatus("http://fake/shop/dev/web/healthz", 503);
  clock_.Advance(absl::Seconds(2));
  Settle();
  EXPECT_EQ(Node(Get(run->id()), "ready").state(), v1::NODE_STATE_WAITING);
  http_.SetStatus("http://fake/shop/dev/web/healthz", 200);
  clock_.Advance(absl::Seconds(2));
  Settle();
  EXPECT_EQ(Get(run->id()).state(), v1::RUN_STATE_SUCCEEDED);

  http_.SetStatus("http://fake/shop/dev/web/healthz", 503);
  auto second = Start(p);
  ASSERT_OK(second);
  for (int i = 0; i < 6; ++i) {
    Settle();
    clock_.Advance(absl::Seconds(2));
  }
  Settle();
  v1::Run done = Get(second->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(Node(done, "ready").error(), HasSubstr("condition not met within 10s"));
}

TEST_F(ExecutorTest, SkipIfAndJobs) {
  driver_.SetJobExitCode(0);
  auto p = Pipeline(R"([
        {ref: skipped, skip_if: "${eq(args.env, 'test')}", deploy: {resource: web}},
        {ref: migrate, run_job: {resource: migrate, args: ["--to", "${args.env}"]}}])");
  auto run = Start(p, {{"env", "test"}});
  ASSERT_OK(run);
  Settle();
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Node(done, "skipped").state(), v1::NODE_STATE_SKIPPED);
  EXPECT_EQ(Node(done, "migrate").outputs().at("exit_code"), "0");
  EXPECT_THAT(driver_.jobs(), ElementsAre(ElementsAre("migrate", "--to", "test")));
  // No deploy happened, so no release.
  EXPECT_EQ(done.release(), 0);

  driver_.SetJobExitCode(3);
  auto failing = Start(p, {{"env", "prod"}});
  Settle();
  EXPECT_THAT(Get(failing->id()).error(), HasSubstr("job exited with status 3"));
}

TEST_F(ExecutorTest, TheSameRequestIdReturnsTheSameRun) {
  auto p = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "allow");
  auto a = Start(p, {}, "dev", "ci-42");
  auto b = Start(p, {}, "dev", "ci-42");
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->id(), b->id());
  EXPECT_EQ(executor_->ActiveRuns(), 1);
}

TEST_F(ExecutorTest, ARestartedExecutorResumesRunsExactlyOnce) {
  http_.SetStatus("http://chat", 200);
  auto p = Pipeline(R"([
        {ref: wait, sleep: {duration: 1m}},
        {ref: web, deploy: {resource: web, artifact: {version: "7"}}},
        {ref: tell, retry: {max_attempts: 2}, message: {url: "http://chat", text: "done"}}])");
  auto run = Start(p);
  ASSERT_OK(run);
  Settle();
  // Restart in the middle of the sleep.
  Open();
  ASSERT_OK(executor_->Recover());
  EXPECT_EQ(executor_->ActiveRuns(), 1);
  clock_.Advance(absl::Minutes(1));
  ASSERT_OK(executor_->Tick());  // the deploy starts; restart again while it runs
  EXPECT_EQ(Node(Get(run->id()), "web").state(), v1::NODE_STATE_RUNNING);
  tasks_.RunAll();  // the lost process's task finished, but nobody hears it
  Open();
  ASSERT_OK(executor_->Recover());
  Settle();  // deploy is idempotent: applied again; message then sent
  EXPECT_EQ(Node(Get(run->id()), "web").state(), v1::NODE_STATE_SUCCEEDED);
  // Restart while the message (not idempotent) is running: it counts as a failed attempt.
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(done.release(), 1);
  EXPECT_EQ(Releases().size(), 1u);
}

TEST_F(ExecutorTest, AReplicaAdoptsTheRunsOfADeadReplicaAndFinishesThemOnce) {
  replica_ = "a";
  Open();
  auto p = Pipeline(R"([
        {ref: wait, sleep: {duration: 1m}},
        {ref: web, deploy: {resource: web, artifact: {version: "7"}}}])");
  auto run = Start(p);
  ASSERT_OK(run);
  EXPECT_EQ(run->replica(), "a");
  Settle();
  // Replica a dies; b is a new process and owns nothing until it adopts a's runs.
  replica_ = "b";
  Open();
  ASSERT_OK(executor_->Recover());
  EXPECT_EQ(executor_->ActiveRuns(), 0);
  auto none = executor_->Adopt("c");
  ASSERT_OK(none);
  EXPECT_EQ(*none, 0);
  auto adopted = executor_->Adopt("a");
  ASSERT_OK(adopted);
  EXPECT_EQ(*adopted, 1);
  EXPECT_EQ(Get(run->id()).replica(), "b");
  // Adopting again takes nothing twice.
  auto again = executor_->Adopt("a");
  ASSERT_OK(again);
  EXPECT_EQ(*again, 0);
  clock_.Advance(absl::Minutes(1));
  Settle();
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(Releases().size(), 1u);
  bool said = false;
  ASSERT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto events = storage::RunRepository().EventsAfter(tx, run->id(), 0, 100);
    if (!events.ok()) return events.status();
    for (const auto& e : *events) said |= absl::StrContains(e.log(), "adopted by replica b");
    return absl::OkStatus();
  }));
  EXPECT_TRUE(said);
}

TEST_F(ExecutorTest, AnAdoptedRunWithAMachineLocalResourceFailsAsUnavailable) {
  driver_.SetShared(false);  // like `process`: the service lived on the dead replica's machine
  replica_ = "a";
  Open();
  auto run = Start(Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])"));
  ASSERT_OK(run);
  Settle();
  replica_ = "b";
  Open();
  ASSERT_OK(executor_->Adopt("a"));
  Settle();
  v1::Run done = Get(run->id());
  EXPECT_EQ(done.state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(done.error(), HasSubstr("unavailable"));
  EXPECT_THAT(done.error(), HasSubstr("driver process"));
  EXPECT_THAT(done.error(), HasSubstr("replica a"));
  EXPECT_TRUE(driver_.applies().empty());  // not started again here
}

TEST_F(ExecutorTest, CancelsAndApprovalsOfAnotherReplicasRunAreAppliedThere) {
  replica_ = "a";
  Open();
  auto approve =
      Start(Pipeline(R"([{ref: go, approval: {approvals: 1}}])", "allow"), {}, "dev", "", "alice");
  ASSERT_OK(approve);
  auto cancel = Start(Pipeline(R"([{ref: wait, sleep: {duration: 1h}}])", "allow"));
  ASSERT_OK(cancel);
  Settle();
  // Replica b, alive beside a, takes the calls; a applies them on its pick-up rounds. (The fake
  // clock's waits do not block, so b may wait long by it.)
  auto b = OtherReplica("b", absl::Hours(1));
  auto through_b = [&](auto call) {
    auto answer = std::async(std::launch::async, call);
    while (answer.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
      EXPECT_OK(executor_->PickUp());
    }
    return answer.get();
  };
  // a's answer comes back with its code: the initiator may not approve.
  EXPECT_THAT(through_b([&] { return b->Approve(approve->id(), "go", "alice", "", false); }),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("initiator")));
  auto approved = through_b([&] { return b->Approve(approve->id(), "go", "bob", "ok", false); });
  ASSERT_OK(approved);
  EXPECT_EQ(Node(*approved, "go").state(), v1::NODE_STATE_SUCCEEDED);
  auto cancelled = through_b([&] { return b->Cancel(cancel->id(), "carol", "wrong branch"); });
  ASSERT_OK(cancelled);
  EXPECT_NE(cancelled->state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(b->ActiveRuns(), 0);  // b executes neither run
  Settle();
  EXPECT_EQ(Get(approve->id()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Node(Get(approve->id()), "go").outputs().at("approved_by"), "bob");
  EXPECT_EQ(Get(cancel->id()).state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(Get(cancel->id()).cancelled_by(), "carol");
  // Every call's row is gone once answered.
  ASSERT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto left = storage::RunCommandRepository().Waiting(tx, 10);
    if (!left.ok()) return left.status();
    EXPECT_TRUE(left->empty());
    auto first = storage::RunCommandRepository().Get(tx, 1);
    if (!first.ok()) return first.status();
    EXPECT_FALSE(first->has_value());
    return absl::OkStatus();
  }));
}

TEST_F(ExecutorTest, ACallThatTheExecutingReplicaDoesNotTakeIsWithdrawnUnchanged) {
  replica_ = "a";
  Open();
  auto run = Start(Pipeline(R"([{ref: go, approval: {approvals: 1}}])"));
  ASSERT_OK(run);
  Settle();
  replica_ = "b";  // a hangs: it never picks anything up; b is asked about its run
  Open();
  EXPECT_THAT(
      executor_->Cancel(run->id(), "bob", "why"),
      StatusIs(absl::StatusCode::kUnavailable,
               AllOf(HasSubstr("replica a"), HasSubstr("did not take the cancel within 10s"),
                     HasSubstr("nothing was changed"))));
  EXPECT_THAT(executor_->Approve(run->id(), "go", "bob", "", false),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("replica a")));
  EXPECT_EQ(Get(run->id()).state(), v1::RUN_STATE_AWAITING_APPROVAL);
  EXPECT_EQ(Node(Get(run->id()), "go").state(), v1::NODE_STATE_AWAITING_APPROVAL);
  ASSERT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto left = storage::RunCommandRepository().Waiting(tx, 10);
    if (!left.ok()) return left.status();
    EXPECT_TRUE(left->empty());  // withdrawn: a, waking up, applies nothing
    return absl::OkStatus();
  }));
}

TEST_F(ExecutorTest, ARunThatEndsWhilePickUpReadsTheStoreIsNotTakenUpAgain) {
  replica_ = "a";
  Open();
  auto run = Start(Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "allow"));
  ASSERT_OK(run);
  Settle();
  // The run ends, and leaves the active set, after PickUp has read it as active.
  after_load_read_ = [&] {
    clock_.Advance(absl::Minutes(1));
    Settle();
    EXPECT_EQ(executor_->ActiveRuns(), 0);
  };
  auto picked = executor_->PickUp();
  ASSERT_OK(picked);
  EXPECT_EQ(*picked, 0);
  EXPECT_EQ(executor_->ActiveRuns(), 0);
  Settle();
  EXPECT_EQ(Get(run->id()).state(), v1::RUN_STATE_SUCCEEDED);
  ASSERT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto events = storage::RunRepository().EventsAfter(tx, run->id(), 0, 100);
    if (!events.ok()) return events.status();
    for (const auto& e : *events) EXPECT_THAT(e.log(), ::testing::Not(HasSubstr("picked up")));
    return absl::OkStatus();
  }));
}

TEST_F(ExecutorTest, AQueueStagesRunStartedOnAnotherReplicaWaitsOnTheReplicaThatRunsTheStage) {
  replica_ = "a";
  Open();
  auto p = Pipeline(R"([
        {ref: web, deploy: {resource: web, artifact: {version: "7"}}},
        {ref: wait, sleep: {duration: 1m}}])",
                    "queue");
  auto first = Start(p);
  ASSERT_OK(first);
  Settle();
  EXPECT_EQ(Get(first->id()).state(), v1::RUN_STATE_RUNNING);
  // Replica b, alive at the same time, is asked to run the same stage.
  auto b = OtherReplica("b");
  StartRequest req;
  req.pipeline = p;
  req.stage = "dev";
  auto second = b->Start(req, "");
  ASSERT_OK(second);
  EXPECT_EQ(second->state(), v1::RUN_STATE_QUEUED);
  EXPECT_EQ(second->replica(), "a");
  EXPECT_THAT(second->waiting_reason(), HasSubstr("handed over to replica a"));
  EXPECT_EQ(b->ActiveRuns(), 0);  // b keeps nothing of it
  // a picks it up, and it waits there behind the first run.
  auto picked = executor_->PickUp();
  ASSERT_OK(picked);
  EXPECT_EQ(*picked, 1);
  Settle();
  EXPECT_EQ(Get(second->id()).state(), v1::RUN_STATE_QUEUED);
  clock_.Advance(absl::Minutes(1));
  Settle();
  EXPECT_EQ(Get(first->id()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Get(second->id()).state(), v1::RUN_STATE_RUNNING);
  clock_.Advance(absl::Minutes(1));
  Settle();
  EXPECT_EQ(Get(second->id()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Releases().size(), 2u);
}

TEST_F(ExecutorTest, LatestAndReplaceApplyToRunsHandedOverFromAnotherReplica) {
  replica_ = "a";
  Open();
  auto b = OtherReplica("b");
  auto start_on_b = [&](const v1::Pipeline& p) {
    StartRequest req;
    req.pipeline = p;
    req.stage = "dev";
    return b->Start(req, "");
  };
  auto latest = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "latest");
  auto running = Start(latest);
  ASSERT_OK(running);
  Settle();
  auto older = start_on_b(latest);
  ASSERT_OK(older);
  auto newer = start_on_b(latest);
  ASSERT_OK(newer);
  ASSERT_OK(executor_->PickUp());
  Settle();
  // latest: the newer handed-over run supersedes the older one; the running one goes on.
  EXPECT_EQ(Get(older->id()).state(), v1::RUN_STATE_SKIPPED);
  EXPECT_EQ(Get(newer->id()).state(), v1::RUN_STATE_QUEUED);
  EXPECT_EQ(Get(running->id()).state(), v1::RUN_STATE_RUNNING);
  // replace: a handed-over run cancels the running one and runs next.
  auto replace = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "replace");
  auto replacing = start_on_b(replace);
  ASSERT_OK(replacing);
  EXPECT_EQ(replacing->replica(), "a");
  ASSERT_OK(executor_->PickUp());
  Settle();
  EXPECT_EQ(Get(running->id()).state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(Get(newer->id()).state(), v1::RUN_STATE_SKIPPED);
  EXPECT_EQ(Get(replacing->id()).state(), v1::RUN_STATE_RUNNING);
}

TEST_F(ExecutorTest, AForbidStageRefusesARunOnAnotherReplicaNamingTheActiveOne) {
  replica_ = "a";
  Open();
  auto p = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "forbid");
  auto first = Start(p);
  ASSERT_OK(first);
  Settle();
  auto b = OtherReplica("b");
  StartRequest req;
  req.pipeline = p;
  req.stage = "dev";
  EXPECT_THAT(b->Start(req, ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(first->id())));
  // An allow stage runs side by side on both replicas.
  auto allow = Pipeline(R"([{ref: wait, sleep: {duration: 1m}}])", "allow");
  req.pipeline = allow;
  auto side = b->Start(req, "");
  ASSERT_OK(side);
  EXPECT_EQ(side->replica(), "b");
  EXPECT_EQ(side->state(), v1::RUN_STATE_PENDING);
}

TEST_F(ExecutorTest, AMessageRunningAtRestartFollowsItsRetryPolicy) {
  http_.SetStatus("http://chat", 200);
  auto p = Pipeline(
      R"([{ref: tell, retry: {max_attempts: 2, backoff: 1s}, message: {url: "http://chat", text: "hi"}}])");
  auto run = Start(p);
  ASSERT_OK(run);
  ASSERT_OK(executor_->Tick());
  EXPECT_EQ(Node(Get(run->id()), "tell").state(), v1::NODE_STATE_RUNNING);
  Open();
  ASSERT_OK(executor_->Recover());
  v1::NodeStatus node = Node(Get(run->id()), "tell");
  EXPECT_EQ(node.state(), v1::NODE_STATE_WAITING);
  EXPECT_THAT(node.error(), HasSubstr("outcome unknown"));
  clock_.Advance(absl::Seconds(1));
  Settle();
  EXPECT_EQ(Get(run->id()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Node(Get(run->id()), "tell").attempts(), 2);
}

TEST_F(ExecutorTest, EventsAreRecordedInOrder) {
  auto p = Pipeline(R"([{ref: web, deploy: {resource: web}}])");
  auto run = Start(p);
  ASSERT_OK(run);
  Settle();
  EXPECT_TRUE(executor_->WaitForEvents(run->id(), 0, absl::ZeroDuration()));
  EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto events = storage::RunRepository().EventsAfter(tx, run->id(), 0, 100);
    EXPECT_GE(events->size(), 4u);
    for (size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].sequence(), int64_t(i + 1));
    EXPECT_EQ(events->back().state(), v1::RUN_STATE_SUCCEEDED);
    return absl::OkStatus();
  }));
}

TEST_F(ExecutorTest, StartAllCommitsTheRunsWithWhatTheCallerWrites) {
  auto p = Pipeline(R"([{ref: web, deploy: {resource: web, artifact: {version: "1"}}}])", "allow");
  StartRequest dev;
  dev.pipeline = p;
  dev.stage = "dev";
  StartRequest unknown = dev;
  unknown.stage = "nope";
  int also_saw_ok = 0;
  auto r = executor_->StartAll(
      {{dev, "req-1"}, {unknown, ""}},
      [&](storage::Transaction& tx, const std::vector<absl::StatusOr<v1::Run>>& runs) {
        for (const auto& run : runs) also_saw_ok += run.ok() ? 1 : 0;
        return storage::RequestLog().Put(tx, "Caller", "marker", {"", "x"}, 0);
      });
  ASSERT_OK(r.committed);
  ASSERT_EQ(r.runs.size(), 2u);
  ASSERT_OK(r.runs[0]);
  EXPECT_THAT(r.runs[1], StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
  EXPECT_EQ(also_saw_ok, 1);
  EXPECT_EQ(Get(r.runs[0]->id()).state(), v1::RUN_STATE_PENDING);
  EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto marker = storage::RequestLog().Find(tx, "Caller", "marker");
    EXPECT_TRUE(marker.ok() && marker->has_value());
    return absl::OkStatus();
  }));
  Settle();
  EXPECT_EQ(Get(r.runs[0]->id()).state(), v1::RUN_STATE_SUCCEEDED);
  // The request id was recorded with the run.
  auto again = Start(p, {}, "dev", "req-1");
  ASSERT_OK(again);
  EXPECT_EQ(again->id(), r.runs[0]->id());
}

TEST_F(ExecutorTest, StartAllStoresNothingWhenTheCallersWriteFails) {
  auto p = Pipeline(R"([{ref: web, deploy: {resource: web, artifact: {version: "1"}}}])", "allow");
  StartRequest dev;
  dev.pipeline = p;
  dev.stage = "dev";
  auto r = executor_->StartAll({{dev, "req-2"}, {dev, ""}}, [](storage::Transaction&, const auto&) {
    return absl::AlreadyExistsError("delivery id already claimed");
  });
  EXPECT_THAT(r.committed, StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("claimed")));
  ASSERT_EQ(r.runs.size(), 2u);
  EXPECT_THAT(r.runs[0], StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("claimed")));
  EXPECT_EQ(executor_->ActiveRuns(), 0);
  Settle();
  EXPECT_TRUE(driver_.applies().empty());
  EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto active = storage::RunRepository().ListActive(tx);
    EXPECT_TRUE(active.ok() && active->empty());
    auto logged = storage::RequestLog().Find(tx, "StartRun", "req-2");
    EXPECT_TRUE(logged.ok() && !logged->has_value());
    return absl::OkStatus();
  }));
  // The same request id starts a run afterwards: the failed attempt claimed nothing.
  auto later = Start(p, {}, "dev", "req-2");
  ASSERT_OK(later);
  Settle();
  EXPECT_EQ(Get(later->id()).state(), v1::RUN_STATE_SUCCEEDED);
}

TEST_F(ExecutorTest, ConcurrentStartsWhileTickingLoseNothing) {
  // Starts write outside the executor's lock while Tick commits other runs' progress: every
  // run must end up stored, run and recorded exactly once.
  auto p = Pipeline(R"([{ref: web, deploy: {resource: web, artifact: {version: "1"}}}])", "allow");
  std::atomic<bool> stop{false};
  std::thread ticker([&] {
    while (!stop) {
      EXPECT_OK(executor_->Tick());
      tasks_.RunAll();
    }
  });
  std::vector<std::thread> starters;
  std::mutex ids_mu;
  std::vector<std::string> ids;
  for (int t = 0; t < 4; ++t) {
    starters.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto run = Start(p, {}, "dev", absl::StrCat("req-", t, "-", i));
        ASSERT_OK(run);
        std::lock_guard<std::mutex> lock(ids_mu);
        ids.push_back(run->id());
      }
    });
  }
  for (auto& s : starters) s.join();
  stop = true;
  ticker.join();
  Settle();
  ASSERT_EQ(ids.size(), 100u);
  std::set<std::string> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), 100u);
  for (const auto& id : ids) EXPECT_EQ(Get(id).state(), v1::RUN_STATE_SUCCEEDED) << id;
  EXPECT_EQ(Releases().size(), 100u);
  EXPECT_EQ(executor_->ActiveRuns(), 0);
}

}  // namespace
}  // namespace slipway::release
