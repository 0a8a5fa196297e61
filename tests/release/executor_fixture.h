// The fixture of the executor's tests (executor_test.cc, rollback_test.cc,
// idempotency_test.cc): a real SQLite store in a temporary directory, a fake clock, fake
// drivers and a manual task runner, so each test steps the executor itself.
#ifndef SLIPWAY_TESTS_RELEASE_EXECUTOR_FIXTURE_H_
#define SLIPWAY_TESTS_RELEASE_EXECUTOR_FIXTURE_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "common/error_reason.h"
#include "common/proto_yaml.h"
#include "common/status_macros.h"
#include "release/executor.h"
#include "release/retention.h"
#include "release/run_manager.h"
#include "release/stage_manager.h"
#include "storage/pipeline_repository.h"
#include "storage/request_log.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_driver.h"
#include "tests/testing/sequential_ids.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::release {

using ::slipway::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

inline constexpr char kPipeline[] = R"yaml(
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
    executor_ = OtherReplica(replica_);
  }
  // An executor on the store as replica `replica` (empty: the only process); beside
  // executor_, it stands for another live replica.
  std::unique_ptr<Executor> OtherReplica(const std::string& replica,
                                         absl::Duration forward_timeout = absl::Seconds(10)) {
    ExecutorDeps deps;
    deps.db = db_.get();
    deps.clock = &clock_;
    deps.ids = &ids_;
    deps.drivers = {{"process", &driver_}, {"command", &driver_}};
    deps.http = &http_;
    deps.tasks = &tasks_;
    deps.replica = replica;
    deps.forward_timeout = forward_timeout;
    deps.after_load_read = [this] {
      if (auto hook = std::exchange(after_load_read_, nullptr)) hook();
    };
    return std::make_unique<Executor>(deps);
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
                                const std::string& stage = "dev",
                                const std::string& request_id = "",
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
  // The replica the next Open() stands for (empty: the only process).
  std::string replica_;
  // Run once by the next Load of an executor made here, between its read and its lock.
  std::function<void()> after_load_read_;
};

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
    EXPECT_OK(db_->Write(
        [&](storage::Transaction& tx) { return storage::PipelineRepository().Insert(tx, p); }));
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

}  // namespace slipway::release

#endif  // SLIPWAY_TESTS_RELEASE_EXECUTOR_FIXTURE_H_
