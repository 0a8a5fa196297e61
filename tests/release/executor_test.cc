#include "release/executor.h"

#include "release/retention.h"
#include "release/stage_manager.h"
#include "release/run_manager.h"
#include "common/status_macros.h"
#include "common/error_reason.h"

#include <gmock/gmock.h>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <gtest/gtest.h>

#include "common/proto_yaml.h"
#include "storage/pipeline_repository.h"
#include "storage/request_log.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_driver.h"
#include "tests/testing/sequential_ids.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::release {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPipeline[] = R"yaml(
name: shop
revision: 3
stages:
  - name: dev
    concurrency: CONCURRENCY
    resources:
      - {name: web, driver: process, process: {command: ["web", "--version", "${artifact.version}"]}}
      - {name: api, driver: process, process: {command: ["api"]}}
      - {name: migrate, kind: job, driver: command, command: {apply: ["migrate"]}}
    flow:
      sequential: FLOW
  - name: prod
    resources:
      - {name: web, driver: process, process: {command: ["web", "--version", "${artifact.version}"]}}
    flow:
      sequential:
        - {ref: web, promote: {resource: web, from_stage: dev}}
)yaml";

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  // Opens the store and a new executor: at a second call, a restarted controller whose
  // predecessor's unfinished tasks died with it.
  void Open() {
    tasks_.DropAll();
    executor_.reset();
    db_.reset();
    auto db = storage::Database::Open({.path = dir_.File("db")});
    ASSERT_OK(db);
    db_ = *std::move(db);
    ExecutorDeps deps;
    deps.db = db_.get();
    deps.clock = &clock_;
    deps.ids = &ids_;
    deps.drivers = {{"process", &driver_}, {"command", &driver_}};
    deps.http = &http_;
    deps.tasks = &tasks_;
    executor_ = std::make_unique<Executor>(deps);
  }

  v1::Pipeline Pipeline(const std::string& flow, const std::string& concurrency = "queue") {
    std::string text = kPipeline;
    text.replace(text.find("FLOW"), 4, flow);
    text.replace(text.find("CONCURRENCY"), 11, concurrency);
    v1::Pipeline p;
    absl::Status s = ParseYaml(text, &p);
    EXPECT_TRUE(s.ok()) << s;
    return p;
  }

  absl::StatusOr<v1::Run> Start(const v1::Pipeline& p, std::map<std::string, std::string> args = {},
                                const std::string& stage = "dev", const std::string& request_id = "",
                                const std::string& actor = "alice") {
    StartRequest req;
    req.pipeline = p;
    req.stage = stage;
    req.args = std::move(args);
    req.trigger.set_sha("3f2c9a1");
    req.trigger.set_actor(actor);
    return executor_->Start(req, request_id);
  }

  // Ticks and runs finished tasks until nothing more happens at this clock time.
  void Settle() {
    for (int i = 0; i < 50; ++i) {
      ASSERT_OK(executor_->Tick());
      if (tasks_.RunAll() == 0) {
        ASSERT_OK(executor_->Tick());
        return;
      }
    }
  }

  v1::Run Get(const std::string& id) {
    v1::Run run;
    EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
      auto r = storage::RunRepository().Get(tx, id);
      if (r.ok()) run = *r;
      return r.status();
    }));
    return run;
  }
  const v1::NodeStatus& Node(const v1::Run& run, const std::string& ref) {
    for (const auto& n : run.nodes()) {
      if (n.ref() == ref) return n;
    }
    static v1::NodeStatus none;
    ADD_FAILURE() << "no node " << ref;
    return none;
  }
  std::vector<v1::Release> Releases(const std::string& stage = "dev") {
    std::vector<v1::Release> out;
    EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
      auto r = storage::ReleaseRepository().List(tx, "shop", stage, 0, 100);
      if (r.ok()) out = *r;
      return r.status();
    }));
    return out;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::SequentialIds ids_;
  testing::FakeDriver driver_;
  testing::FakeHttpClient http_;
  testing::ManualTaskRunner tasks_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<Executor> executor_;
};

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
  auto p = Pipeline(R"([{ref: web, deploy: {resource: web, artifact: {version: "${args.version}"}}}])");
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

TEST_F(ExecutorTest, RetriesWithExponentialBackoffThenSucceeds) {
  driver_.FailNextApply("shop/dev/web", absl::UnavailableError("port busy"));
  driver_.FailNextApply("shop/dev/web", absl::UnavailableError("port busy"));
  auto p = Pipeline(R"([{ref: web, retry: {max_attempts: 3, backoff: 5s}, deploy: {resource: web}}])");
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
  auto gated = Pipeline(R"([{ref: ok, approval: {}}, {ref: web, deploy: {resource: web}}])", "allow");
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
  auto p = Pipeline(R"([{ref: go, approval: {approvals: 2}}, {ref: web, deploy: {resource: web}}])");
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
  EXPECT_THAT(driver_.applies().back().spec.process().command(), ElementsAre("web", "--version", "2.0"));
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

TEST_F(ExecutorTest, AMessageRunningAtRestartFollowsItsRetryPolicy) {
  http_.SetStatus("http://chat", 200);
  auto p = Pipeline(R"([{ref: tell, retry: {max_attempts: 2, backoff: 1s}, message: {url: "http://chat", text: "hi"}}])");
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

// Rollback, holds and retention, on the same fixture.
class RollbackTest : public ExecutorTest {
 protected:
  StageManager Stages() { return StageManager(db_.get(), executor_.get(), &clock_); }
  // Stores `p` (rollbacks and holds read the stored pipeline) and deploys web at `version`.
  std::string Deploy(const v1::Pipeline& p, const std::string& version) {
    auto run = Start(p, {{"version", version}});
    EXPECT_OK(run);
    Settle();
    EXPECT_EQ(Get(run->id()).state(), v1::RUN_STATE_SUCCEEDED) << Get(run->id()).error();
    return run->id();
  }
  v1::Pipeline Stored() {
    v1::Pipeline p = Pipeline(R"([
        {ref: web, deploy: {resource: web, artifact: {version: "${args.version}"}}},
        {ref: api, deploy: {resource: api, artifact: {version: "${args.version}", config: {mode: "m${args.version}"}}}}])");
    EXPECT_OK(db_->Write([&](storage::Transaction& tx) { return storage::PipelineRepository().Insert(tx, p); }));
    return p;
  }
  std::optional<v1::StageHold> Hold() {
    std::optional<v1::StageHold> hold;
    EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
      auto h = storage::StageHoldRepository().Get(tx, "shop", "dev");
      if (h.ok()) hold = *h;
      return h.status();
    }));
    return hold;
  }
  v1::RollbackStageRequest Request(int64_t to = 0, bool dry_run = false) {
    v1::RollbackStageRequest r;
    r.set_pipeline("shop");
    r.set_stage("dev");
    r.set_to_release(to);
    r.set_dry_run(dry_run);
    r.set_reason("v2 broke checkout");
    return r;
  }
};

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
  p.mutable_stages(0)->mutable_retention()->set_keep_run_logs("24h");
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
  auto r = executor_->StartAll({{dev, "req-2"}, {dev, ""}},
                               [](storage::Transaction&, const auto&) {
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

namespace slipway::release {
namespace {

// One idempotency model for StartRun, RetryRun and RollbackStage: the request log, with the
// request's fingerprint, inside the transaction that creates the run.
class IdempotencyTest : public RollbackTest {
 protected:
  RunManager Runs() { return RunManager(db_.get(), executor_.get()); }
  v1::StartRunRequest StartReq(const std::string& stage, const std::string& id) {
    v1::StartRunRequest r;
    r.set_pipeline("shop");
    r.set_stage(stage);
    r.set_request_id(id);
    (*r.mutable_args())["version"] = "7";
    return r;
  }
  int RunCount() {
    int n = 0;
    EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT COUNT(*) FROM runs"));
      ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (row) n = static_cast<int>(stmt->ColumnInt(0));
      return absl::OkStatus();
    }));
    return n;
  }
};

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
    threads.emplace_back([&, i] { got[i] = Runs().StartRun(StartReq("dev", "ci-burst"), "token:ci"); });
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
