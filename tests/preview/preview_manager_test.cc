#include "preview/preview_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "common/names.h"
#include "common/proto_yaml.h"
#include "common/status_macros.h"
#include "storage/pipeline_repository.h"
#include "storage/preview_repository.h"
#include "storage/run_repository.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_driver.h"
#include "tests/testing/sequential_ids.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::preview {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr char kPipeline[] = R"yaml(
name: shop
revision: 1
sources: [{name: app, provider: github, repository: acme/shop}]
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: ["web"]}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}]}
preview_blueprints:
  - name: pr
    triggers:
      - pull_request: {source: app, branches: ["**"], ignore_drafts: true}
      - push: {source: app, branches: ["preview/**"]}
    lifetime: {ttl: 2h, reset_on_update: true}
    budget: BUDGET
    resources:
      - name: web
        driver: process
        process: {command: ["web", "--sha", "${trigger.sha}", "--name", "${preview.name}"], health: {http_path: /healthz}}
      - RESOURCE2
    teardown: TEARDOWN
)yaml";

class PreviewManagerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    tasks_.DropAll();
    previews_.reset();
    executor_.reset();
    db_.reset();
    auto db = storage::Database::Open({.path = dir_.File("db")});
    ASSERT_OK(db);
    db_ = *std::move(db);
    release::ExecutorDeps deps;
    deps.db = db_.get();
    deps.clock = &clock_;
    deps.ids = &ids_;
    deps.drivers = {{"process", &driver_}, {"command", &driver_}};
    deps.http = &http_;
    deps.tasks = &tasks_;
    executor_ = std::make_unique<release::Executor>(deps);
    ASSERT_OK(executor_->Recover());
    subjects_ = std::make_unique<RecordedSubjectStates>(db_.get());
    PreviewDeps pd;
    pd.db = db_.get();
    pd.clock = &clock_;
    pd.ids = &ids_;
    pd.executor = executor_.get();
    pd.drivers = deps.drivers;
    pd.tasks = &tasks_;
    pd.subjects = subjects_.get();
    audit_ = std::make_unique<storage::AuditLog>(db_.get(), &clock_);
    pd.audit = audit_.get();
    previews_ = std::make_unique<PreviewManager>(pd);
    ASSERT_OK(previews_->Load());
  }

  v1::Pipeline Pipeline(
      const std::string& budget = "{}", const std::string& teardown = "{}",
      const std::string& resource2 = "{name: api, driver: command, command: {apply: [api]}}") {
    std::string text = kPipeline;
    text.replace(text.find("BUDGET"), 6, budget);
    text.replace(text.find("TEARDOWN"), 8, teardown);
    text.replace(text.find("RESOURCE2"), 9, resource2);
    v1::Pipeline p;
    absl::Status s = ParseYaml(text, &p);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_OK(db_->Write([&](storage::Transaction& tx) -> absl::Status {
      auto existing = storage::PipelineRepository().Get(tx, "shop");
      if (existing.ok()) return storage::PipelineRepository().Update(tx, p, existing->etag());
      return storage::PipelineRepository().Insert(tx, p);
    }));
    return p;
  }

  v1::SourceEvent Pr(int64_t number, v1::PullRequestAction action, const std::string& sha,
                     const std::string& branch = "feature/login") {
    v1::SourceEvent e;
    e.set_provider(v1::PROVIDER_GITHUB);
    e.set_kind(v1::GIT_EVENT_KIND_PULL_REQUEST);
    e.set_repository("acme/shop");
    e.mutable_pull_request()->set_number(number);
    e.mutable_pull_request()->set_action(action);
    e.mutable_pull_request()->set_head_branch(branch);
    e.mutable_pull_request()->set_head_sha(sha);
    return e;
  }

  std::vector<v1::DeliveryMatch> Send(const v1::Pipeline& p, const v1::SourceEvent& e) {
    return previews_->HandleEvent(p, p.sources(0), e, "test");
  }

  // Ticks the executor and the previews and runs tasks until nothing more happens.
  void Settle() {
    for (int i = 0; i < 100; ++i) {
      ASSERT_OK(executor_->Tick());
      ASSERT_OK(previews_->Tick());
      int ran = tasks_.RunAll();
      ASSERT_OK(executor_->Tick());
      ASSERT_OK(previews_->Tick());
      if (ran == 0 && tasks_.pending() == 0) return;
    }
  }

  v1::Preview Get(const std::string& name) {
    auto p = previews_->Get(name);
    EXPECT_OK(p);
    return p.ok() ? *p : v1::Preview();
  }

  std::vector<std::string> AppliedShas() {
    std::vector<std::string> out;
    for (const auto& a : driver_.applies()) out.push_back(a.artifact.sha());
    return out;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::SequentialIds ids_;
  testing::FakeDriver driver_;
  testing::FakeHttpClient http_;
  testing::ManualTaskRunner tasks_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<release::Executor> executor_;
  std::unique_ptr<RecordedSubjectStates> subjects_;
  std::unique_ptr<storage::AuditLog> audit_;
  std::unique_ptr<PreviewManager> previews_;
};

TEST_F(PreviewManagerTest, PullRequestOpenSyncCloseCreatesUpdatesAndRemovesEverything) {
  auto p = Pipeline();
  auto m = Send(p, Pr(12, v1::PULL_REQUEST_ACTION_OPENED, "aaa111"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].preview(), "pr-12");
  EXPECT_EQ(m[0].preview_action(), "create");
  EXPECT_EQ(Get("pr-12").state(), v1::PREVIEW_STATE_CREATING);
  Settle();
  v1::Preview ready = Get("pr-12");
  ASSERT_EQ(ready.state(), v1::PREVIEW_STATE_READY) << ready.message();
  EXPECT_EQ(ready.ready_sha(), "aaa111");
  ASSERT_EQ(ready.resources_size(), 2);
  EXPECT_EQ(ready.resources(1).status().at("url"), "http://fake/shop/preview:pr-12/web");
  // The command was rendered with the preview's values; nothing went through a shell.
  auto applies = driver_.applies();
  bool rendered = false;
  for (const auto& a : applies) {
    if (a.spec.name() != "web") continue;
    std::vector<std::string> argv(a.spec.process().command().begin(),
                                  a.spec.process().command().end());
    rendered = argv == std::vector<std::string>{"web", "--sha", "aaa111", "--name", "pr-12"};
  }
  EXPECT_TRUE(rendered);

  // A new commit updates it in place, under the same name.
  m = Send(p, Pr(12, v1::PULL_REQUEST_ACTION_SYNCHRONIZED, "bbb222"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].preview_action(), "update");
  EXPECT_EQ(Get("pr-12").state(), v1::PREVIEW_STATE_UPDATING);
  Settle();
  EXPECT_EQ(Get("pr-12").state(), v1::PREVIEW_STATE_READY);
  EXPECT_EQ(Get("pr-12").ready_sha(), "bbb222");
  EXPECT_EQ(Get("pr-12").uid(), ready.uid());
  // The same commit again changes nothing.
  m = Send(p, Pr(12, v1::PULL_REQUEST_ACTION_SYNCHRONIZED, "bbb222"));
  EXPECT_EQ(m[0].skipped(), "preview is up to date");

  // Closed: every resource it created is removed and it is DELETED.
  m = Send(p, Pr(12, v1::PULL_REQUEST_ACTION_CLOSED, "bbb222"));
  EXPECT_EQ(m[0].preview_action(), "teardown");
  Settle();
  v1::Preview gone = Get("pr-12");
  EXPECT_EQ(gone.state(), v1::PREVIEW_STATE_DELETED);
  EXPECT_THAT(driver_.teardowns(), Contains("shop/preview:pr-12/web"));
  EXPECT_THAT(driver_.teardowns(), Contains("shop/preview:pr-12/api"));
  EXPECT_EQ(previews_->LiveCount(), 0);
  EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto left = storage::StageResourceRepository().List(tx, "shop", "preview:pr-12");
    EXPECT_TRUE(left.ok() && left->empty());
    return absl::OkStatus();
  }));
  // Reopened: a new preview with the same name.
  Send(p, Pr(12, v1::PULL_REQUEST_ACTION_REOPENED, "bbb222"));
  Settle();
  EXPECT_EQ(Get("pr-12").state(), v1::PREVIEW_STATE_READY);
  EXPECT_NE(Get("pr-12").uid(), ready.uid());
}

TEST_F(PreviewManagerTest, ANewerCommitSupersedesAnUpdateInProgress) {
  auto p = Pipeline();
  Send(p, Pr(5, v1::PULL_REQUEST_ACTION_OPENED, "c1"));
  ASSERT_OK(previews_->Tick());  // run started, not finished
  Send(p, Pr(5, v1::PULL_REQUEST_ACTION_SYNCHRONIZED, "c2"));
  Send(p, Pr(5, v1::PULL_REQUEST_ACTION_SYNCHRONIZED, "c3"));
  Settle();
  v1::Preview pv = Get("pr-5");
  EXPECT_EQ(pv.state(), v1::PREVIEW_STATE_READY);
  EXPECT_EQ(pv.ready_sha(), "c3");
  EXPECT_EQ(driver_.applies().back().artifact.sha(), "c3");
}

TEST_F(PreviewManagerTest, DraftsUnmatchedBranchesAndBranchPushes) {
  auto p = Pipeline();
  auto draft = Pr(7, v1::PULL_REQUEST_ACTION_OPENED, "d1");
  draft.mutable_pull_request()->set_draft(true);
  auto m = Send(p, draft);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].skipped(), "draft pull request");
  EXPECT_EQ(previews_->LiveCount(), 0);

  // A push to a matching branch creates a branch preview; deleting the branch removes it.
  v1::SourceEvent push;
  push.set_kind(v1::GIT_EVENT_KIND_PUSH);
  push.set_branch("preview/Big Idea");
  push.set_sha("e1");
  m = Send(p, push);
  ASSERT_EQ(m.size(), 1u);
  const std::string name = m[0].preview();
  EXPECT_OK(CheckDnsLabel(name));
  Settle();
  EXPECT_EQ(Get(name).state(), v1::PREVIEW_STATE_READY);
  v1::SourceEvent other = push;
  other.set_branch("main");
  EXPECT_THAT(Send(p, other)[0].skipped(), HasSubstr("does not match"));
  v1::SourceEvent del;
  del.set_kind(v1::GIT_EVENT_KIND_BRANCH_DELETED);
  del.set_branch("preview/Big Idea");
  EXPECT_EQ(Send(p, del)[0].preview_action(), "teardown");
  Settle();
  EXPECT_EQ(Get(name).state(), v1::PREVIEW_STATE_DELETED);
}

TEST_F(PreviewManagerTest, BudgetReject) {
  auto p = Pipeline("{max_active: 1, when_full: reject}");
  Send(p, Pr(1, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  auto m = Send(p, Pr(2, v1::PULL_REQUEST_ACTION_OPENED, "b"));
  EXPECT_THAT(m[0].skipped(), HasSubstr("budget.max_active"));
  EXPECT_EQ(previews_->LiveCount(), 1);
  auto api = previews_->Create(p, "", "feature/x", "s", {}, "alice");
  EXPECT_THAT(api, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("reject")));
}

TEST_F(PreviewManagerTest, BudgetQueueStartsTheNextWhenASlotFrees) {
  auto p = Pipeline("{max_active: 1, when_full: queue}");
  Send(p, Pr(1, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  auto m = Send(p, Pr(2, v1::PULL_REQUEST_ACTION_OPENED, "b"));
  EXPECT_EQ(m[0].preview_action(), "queue");
  Settle();
  EXPECT_EQ(Get("pr-1").state(), v1::PREVIEW_STATE_READY);
  EXPECT_EQ(Get("pr-2").state(), v1::PREVIEW_STATE_QUEUED);
  Send(p, Pr(1, v1::PULL_REQUEST_ACTION_CLOSED, "a"));
  Settle();
  EXPECT_EQ(Get("pr-1").state(), v1::PREVIEW_STATE_DELETED);
  EXPECT_EQ(Get("pr-2").state(), v1::PREVIEW_STATE_READY);
}

TEST_F(PreviewManagerTest, BudgetEvictOldest) {
  auto p = Pipeline("{max_active: 2, when_full: evict_oldest}");
  Send(p, Pr(1, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  clock_.Advance(absl::Seconds(1));
  Send(p, Pr(2, v1::PULL_REQUEST_ACTION_OPENED, "b"));
  clock_.Advance(absl::Seconds(1));
  Settle();
  Send(p, Pr(3, v1::PULL_REQUEST_ACTION_OPENED, "c"));
  Settle();
  EXPECT_EQ(Get("pr-1").state(), v1::PREVIEW_STATE_DELETED);
  EXPECT_THAT(Get("pr-1").message(), HasSubstr("evicted"));
  EXPECT_EQ(Get("pr-2").state(), v1::PREVIEW_STATE_READY);
  EXPECT_EQ(Get("pr-3").state(), v1::PREVIEW_STATE_READY);
}

TEST_F(PreviewManagerTest, LifetimeExpiresResetsOnUpdateAndExtends) {
  auto p = Pipeline();
  Send(p, Pr(9, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  Settle();
  clock_.Advance(absl::Minutes(90));
  Send(p, Pr(9, v1::PULL_REQUEST_ACTION_SYNCHRONIZED, "b"));  // resets the 2h lifetime
  Settle();
  clock_.Advance(absl::Minutes(90));
  Settle();
  EXPECT_EQ(Get("pr-9").state(), v1::PREVIEW_STATE_READY);
  ASSERT_OK(previews_->Extend("pr-9", absl::Hours(1)));  // 30m left + 1h
  clock_.Advance(absl::Minutes(80));
  Settle();
  EXPECT_EQ(Get("pr-9").state(), v1::PREVIEW_STATE_READY);
  clock_.Advance(absl::Minutes(11));
  Settle();
  EXPECT_EQ(Get("pr-9").state(), v1::PREVIEW_STATE_DELETED);
  EXPECT_EQ(Get("pr-9").message(), "lifetime expired");
  // slipwayd's own action, in the audit trail.
  auto trail = audit_->List(v1::ListAuditRecordsRequest());
  ASSERT_OK(trail);
  ASSERT_EQ(trail->records_size(), 1);
  EXPECT_EQ(trail->records(0).action(), "Preview/expire");
  EXPECT_EQ(trail->records(0).actor_kind(), v1::ACTOR_KIND_SYSTEM);
  EXPECT_EQ(trail->records(0).target(), "shop/pr-9");
  EXPECT_THAT(previews_->Extend("pr-9", absl::Hours(1)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("pr-9")));
}

TEST_F(PreviewManagerTest, TeardownFlowFailurePolicies) {
  // block: a failing teardown flow leaves TEARDOWN_FAILED and the resources in place.
  auto p = Pipeline("{}",
                    "{failure_policy: block, flow: {sequential: [{ref: drop, run_job: {resource: "
                    "drop-db}}]}}",
                    "{name: drop-db, kind: job, driver: command, command: {apply: [drop]}}");
  Send(p, Pr(3, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  Settle();
  ASSERT_EQ(Get("pr-3").state(), v1::PREVIEW_STATE_READY);
  driver_.SetJobExitCode(1);
  Send(p, Pr(3, v1::PULL_REQUEST_ACTION_CLOSED, "a"));
  Settle();
  EXPECT_EQ(Get("pr-3").state(), v1::PREVIEW_STATE_TEARDOWN_FAILED);
  EXPECT_THAT(Get("pr-3").message(), HasSubstr("teardown flow failed"));
  EXPECT_TRUE(driver_.teardowns().empty());
  // Deleting with --skip-teardown removes it anyway.
  ASSERT_OK(previews_->Delete("pr-3", /*skip_teardown=*/true, "alice"));
  Settle();
  EXPECT_EQ(Get("pr-3").state(), v1::PREVIEW_STATE_DELETED);
  EXPECT_THAT(driver_.teardowns(), Contains("shop/preview:pr-3/web"));

  // ignore: the failure is noted and the teardown goes on.
  p = Pipeline("{}",
               "{failure_policy: ignore, flow: {sequential: [{ref: drop, run_job: {resource: "
               "drop-db}}]}}",
               "{name: drop-db, kind: job, driver: command, command: {apply: [drop]}}");
  Send(p, Pr(4, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  Settle();
  Send(p, Pr(4, v1::PULL_REQUEST_ACTION_CLOSED, "a"));
  Settle();
  EXPECT_EQ(Get("pr-4").state(), v1::PREVIEW_STATE_DELETED);
  EXPECT_THAT(Get("pr-4").message(), HasSubstr("failed (ignored)"));
}

TEST_F(PreviewManagerTest, AFailedResourceTeardownIsRetried) {
  auto p = Pipeline();
  Send(p, Pr(6, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  Settle();
  driver_.FailTeardowns(1);
  ASSERT_OK(previews_->Delete("pr-6", false, "alice"));
  Settle();
  EXPECT_EQ(Get("pr-6").state(), v1::PREVIEW_STATE_TEARING_DOWN);
  EXPECT_THAT(Get("pr-6").message(), HasSubstr("retrying"));
  clock_.Advance(absl::Seconds(6));
  Settle();
  EXPECT_EQ(Get("pr-6").state(), v1::PREVIEW_STATE_DELETED);
}

TEST_F(PreviewManagerTest, AResourceDroppedFromTheBlueprintIsRemovedOnTheNextUpdate) {
  auto p = Pipeline();
  Send(p, Pr(8, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  Settle();
  ASSERT_EQ(Get("pr-8").resources_size(), 2);
  // The blueprint renames api to api2.
  p = Pipeline("{}", "{}", "{name: api2, driver: command, command: {apply: [api]}}");
  Send(p, Pr(8, v1::PULL_REQUEST_ACTION_SYNCHRONIZED, "b"));
  Settle();
  v1::Preview pv = Get("pr-8");
  EXPECT_EQ(pv.state(), v1::PREVIEW_STATE_READY);
  EXPECT_THAT(driver_.teardowns(), Contains("shop/preview:pr-8/api"));
  std::set<std::string> names;
  for (const auto& r : pv.resources()) names.insert(r.name());
  EXPECT_EQ(names, (std::set<std::string>{"api2", "web"}));
}

TEST_F(PreviewManagerTest, PauseStopsServicesAndResumeStartsThemAtTheLatestCommit) {
  auto p = Pipeline();
  Send(p, Pr(10, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  Settle();
  ASSERT_OK(previews_->Pause("pr-10", "alice"));
  Settle();
  EXPECT_EQ(Get("pr-10").state(), v1::PREVIEW_STATE_PAUSED);
  EXPECT_TRUE(Get("pr-10").stopped());
  EXPECT_THAT(driver_.teardowns(), Contains("shop/preview:pr-10/web"));
  Send(p, Pr(10, v1::PULL_REQUEST_ACTION_SYNCHRONIZED, "b"));  // recorded, not applied
  Settle();
  EXPECT_EQ(Get("pr-10").state(), v1::PREVIEW_STATE_PAUSED);
  ASSERT_OK(previews_->Resume("pr-10", "alice"));
  Settle();
  EXPECT_EQ(Get("pr-10").state(), v1::PREVIEW_STATE_READY);
  EXPECT_EQ(Get("pr-10").ready_sha(), "b");
  EXPECT_THAT(previews_->Resume("pr-10", "alice"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not paused")));
}

TEST_F(PreviewManagerTest, ReconcileRemovesClosedSubjectsButNeverUnknownOnesAndHasAGuard) {
  auto p = Pipeline();
  for (int n = 1; n <= 4; ++n) Send(p, Pr(n, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  auto api = previews_->Create(p, "", "preview/api-made", "s", {}, "alice");
  ASSERT_OK(api);
  Settle();
  // Deliveries said PR 1 closed while its preview was kept (e.g. the teardown was lost).
  ASSERT_OK(db_->Write([&](storage::Transaction& tx) {
    return storage::PreviewRepository().SetSubjectOpen(tx, "shop", "app/pr:1", false, 0);
  }));
  ReconcileReport r = previews_->Reconcile();
  EXPECT_FALSE(r.refused);
  EXPECT_EQ(r.deleted, 1);
  EXPECT_EQ(r.unknown, 1);  // the API-made branch preview: nothing known, left alone
  Settle();
  EXPECT_EQ(Get("pr-1").state(), v1::PREVIEW_STATE_DELETED);
  EXPECT_EQ(Get(api->name()).state(), v1::PREVIEW_STATE_READY);

  // Three of four closed at once is more than half: refused, nothing deleted, reported.
  ASSERT_OK(db_->Write([&](storage::Transaction& tx) -> absl::Status {
    for (int n = 2; n <= 4; ++n) {
      RETURN_IF_ERROR(storage::PreviewRepository().SetSubjectOpen(
          tx, "shop", absl::StrCat("app/pr:", n), false, 0));
    }
    return absl::OkStatus();
  }));
  r = previews_->Reconcile();
  EXPECT_TRUE(r.refused);
  EXPECT_EQ(r.deleted, 0);
  EXPECT_THAT(r.message, HasSubstr("deleted none"));
  Settle();
  for (int n = 2; n <= 4; ++n) {
    EXPECT_EQ(Get(absl::StrCat("pr-", n)).state(), v1::PREVIEW_STATE_READY);
  }
}

TEST_F(PreviewManagerTest, RestartDuringCreationConvergesToReady) {
  auto p = Pipeline();
  Send(p, Pr(11, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  ASSERT_OK(previews_->Tick());  // the run is stored
  ASSERT_OK(executor_->Tick());  // its first deploy is RUNNING, its task never runs
  Open();                        // the controller dies and restarts
  EXPECT_EQ(Get("pr-11").state(), v1::PREVIEW_STATE_CREATING);
  Settle();
  EXPECT_EQ(Get("pr-11").state(), v1::PREVIEW_STATE_READY);
}

TEST_F(PreviewManagerTest, RestartDuringTeardownFinishesIt) {
  auto p = Pipeline();
  Send(p, Pr(13, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  Settle();
  Send(p, Pr(13, v1::PULL_REQUEST_ACTION_CLOSED, "a"));
  ASSERT_OK(previews_->Tick());  // removal posted, never run
  Open();
  Settle();
  EXPECT_EQ(Get("pr-13").state(), v1::PREVIEW_STATE_DELETED);
  EXPECT_THAT(driver_.teardowns(), Contains("shop/preview:pr-13/web"));
}

TEST_F(PreviewManagerTest, ApiCreateNamesTheBranchAndChecksInput) {
  auto p = Pipeline();
  EXPECT_THAT(previews_->Create(p, "", "", "s", {}, "alice"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("branch")));
  EXPECT_THAT(previews_->Create(p, "nope", "x", "s", {}, "alice"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("blueprint")));
  auto made = previews_->Create(p, "", "$(touch /tmp/pwned)", "s", {{"tier", "small"}}, "alice");
  ASSERT_OK(made);
  EXPECT_OK(CheckDnsLabel(made->name()));
  Settle();
  EXPECT_EQ(Get(made->name()).state(), v1::PREVIEW_STATE_READY);
  EXPECT_EQ(Get(made->name()).args().at("tier"), "small");
}

TEST_F(PreviewManagerTest, ReconcileTearsDownPreviewsWhoseBlueprintIsGone) {
  auto p = Pipeline();
  Send(p, Pr(21, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  Settle();
  ASSERT_EQ(Get("pr-21").state(), v1::PREVIEW_STATE_READY);
  ReconcileReport r = previews_->Reconcile();
  EXPECT_EQ(r.orphaned, 0);
  // The blueprint is renamed away.
  p.mutable_preview_blueprints(0)->set_name("renamed");
  ASSERT_OK(db_->Write([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto stored, storage::PipelineRepository().Get(tx, "shop"));
    return storage::PipelineRepository().Update(tx, p, stored.etag());
  }));
  r = previews_->Reconcile();
  EXPECT_EQ(r.orphaned, 1);
  Settle();
  EXPECT_EQ(Get("pr-21").state(), v1::PREVIEW_STATE_DELETED);
  EXPECT_THAT(Get("pr-21").message(), HasSubstr("no longer exists"));
  EXPECT_THAT(driver_.teardowns(), Contains("shop/preview:pr-21/web"));
}

TEST_F(PreviewManagerTest, TeardownWaitsForADeployStillInFlightFromAReplacedRun) {
  auto p = Pipeline();
  Send(p, Pr(30, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  ASSERT_OK(previews_->Tick());  // run 1 stored
  ASSERT_OK(executor_->Tick());  // its deploy of web is posted, not yet run
  Send(p, Pr(30, v1::PULL_REQUEST_ACTION_SYNCHRONIZED, "b"));
  ASSERT_OK(previews_->Tick());  // run 2 replaces run 1, whose deploy is still in flight
  ASSERT_OK(executor_->Tick());
  Send(p, Pr(30, v1::PULL_REQUEST_ACTION_CLOSED, "b"));
  Settle();
  EXPECT_EQ(Get("pr-30").state(), v1::PREVIEW_STATE_DELETED);
  // Whatever was applied, the last word on web is its teardown.
  std::vector<std::string> history;
  for (const auto& h : driver_.history()) {
    if (h.find("shop/preview:pr-30/web") != std::string::npos) history.push_back(h);
  }
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.back(), "teardown shop/preview:pr-30/web");
  EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto left = storage::StageResourceRepository().List(tx, "shop", "preview:pr-30");
    EXPECT_TRUE(left.ok() && left->empty());
    return absl::OkStatus();
  }));
}

TEST_F(PreviewManagerTest, AReopenDuringTeardownCreatesANewPreviewAfterwards) {
  auto p = Pipeline();
  Send(p, Pr(40, v1::PULL_REQUEST_ACTION_OPENED, "a"));
  Settle();
  const std::string first = Get("pr-40").uid();
  Send(p, Pr(40, v1::PULL_REQUEST_ACTION_CLOSED, "a"));
  auto m = Send(p, Pr(40, v1::PULL_REQUEST_ACTION_REOPENED, "b"));
  EXPECT_EQ(m[0].preview_action(), "queue");
  Settle();
  v1::Preview again = Get("pr-40");
  EXPECT_EQ(again.state(), v1::PREVIEW_STATE_READY);
  EXPECT_NE(again.uid(), first);
  EXPECT_EQ(again.ready_sha(), "b");
  // Closed, reopened and closed again before the teardown finished: nothing comes back.
  Send(p, Pr(40, v1::PULL_REQUEST_ACTION_CLOSED, "b"));
  Send(p, Pr(40, v1::PULL_REQUEST_ACTION_REOPENED, "b"));
  Send(p, Pr(40, v1::PULL_REQUEST_ACTION_CLOSED, "b"));
  Settle();
  EXPECT_EQ(Get("pr-40").state(), v1::PREVIEW_STATE_DELETED);
  EXPECT_EQ(previews_->LiveCount(), 0);
}

}  // namespace
}  // namespace slipway::preview
