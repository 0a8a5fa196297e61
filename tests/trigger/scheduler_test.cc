#include "trigger/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/proto_yaml.h"
#include "storage/pipeline_repository.h"
#include "storage/run_repository.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_driver.h"
#include "tests/testing/sequential_ids.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::trigger {
namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::Database::Open({.path = dir_.File("db")});
    ASSERT_OK(db);
    db_ = *std::move(db);
    release::ExecutorDeps deps{db_.get(), &clock_, &ids_, {{"process", &driver_}}, &http_, &tasks_};
    executor_ = std::make_unique<release::Executor>(deps);
    ASSERT_OK(ParseYaml(R"(
name: shop
stages:
  - name: nightly
    resources: [{name: web, driver: process, process: {command: [web]}}]
    triggers: [{schedule: {cron: "0 3 * * *", args: {mode: nightly}}}]
    flow: {sequential: [{ref: web, deploy: {resource: web, artifact: {version: "${args.mode}"}}}]}
)",
                        &pipeline_));
    ASSERT_OK(db_->Write([&](storage::Transaction& tx) {
      return storage::PipelineRepository().Insert(tx, pipeline_);
    }));
  }
  int Runs() {
    int n = 0;
    EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
      n = static_cast<int>(storage::RunRepository().List(tx, {})->size());
      return absl::OkStatus();
    }));
    return n;
  }
  void AdvanceTo(int hour, int minute) {
    absl::CivilMinute now = absl::ToCivilMinute(clock_.Now(), absl::UTCTimeZone());
    absl::CivilMinute target(now.year(), now.month(), now.day(), hour, minute);
    if (target <= now) target = absl::CivilMinute(absl::CivilDay(now) + 1) + hour * 60 + minute;
    clock_.Advance(absl::FromCivil(target, absl::UTCTimeZone()) - clock_.Now());
  }

  testing::TempDir dir_;
  // 2026-09-21 14:13:20 UTC.
  testing::FakeClock clock_;
  testing::SequentialIds ids_;
  testing::FakeDriver driver_;
  testing::FakeHttpClient http_;
  testing::ManualTaskRunner tasks_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<release::Executor> executor_;
  v1::Pipeline pipeline_;
};

TEST_F(SchedulerTest, FiresOncePerScheduledTimeAndNotAtCreation) {
  Scheduler s(db_.get(), executor_.get(), &clock_);
  auto r = s.Tick();
  ASSERT_OK(r);
  EXPECT_EQ(r->started, 0);
  AdvanceTo(2, 59);
  EXPECT_EQ(s.Tick()->started, 0);
  AdvanceTo(3, 0);
  EXPECT_EQ(s.Tick()->started, 1);
  EXPECT_EQ(s.Tick()->started, 0);  // same minute again
  // A restarted controller does not fire the same time twice.
  Scheduler again(db_.get(), executor_.get(), &clock_);
  EXPECT_EQ(again.Tick()->started, 0);
  EXPECT_EQ(Runs(), 1);
  // Down for three days: the missed times fire once, then the schedule goes on.
  clock_.Advance(absl::Hours(72));
  EXPECT_EQ(again.Tick()->started, 1);
  EXPECT_EQ(again.Tick()->started, 0);
  EXPECT_EQ(Runs(), 2);
}

TEST_F(SchedulerTest, AnIdleTickReadsNothingAndPipelineWritesUpdateTheIndex) {
  Scheduler s(db_.get(), executor_.get(), &clock_);
  ASSERT_OK(s.Tick());
  EXPECT_EQ(s.Indexed(), 1);
  const uint64_t reads = db_->reads();
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(absl::Seconds(1));
    ASSERT_OK(s.Tick());
  }
  EXPECT_EQ(db_->reads(), reads);  // nothing changed, nothing due: the store is not read
  // An edited schedule replaces the old one, and fires at its own time.
  v1::Pipeline edited = pipeline_;
  edited.mutable_stages(0)->mutable_triggers(0)->mutable_schedule()->set_cron("30 4 * * *");
  ASSERT_OK(db_->Write([&](storage::Transaction& tx) {
    return storage::PipelineRepository().Update(tx, edited, pipeline_.etag());
  }));
  ASSERT_OK(s.Tick());
  EXPECT_EQ(s.Indexed(), 1);
  AdvanceTo(3, 0);
  EXPECT_EQ(s.Tick()->started, 0);
  AdvanceTo(4, 30);
  EXPECT_EQ(s.Tick()->started, 1);
  // A deleted pipeline's schedule is gone from the index and never fires.
  ASSERT_OK(db_->Write([&](storage::Transaction& tx) {
    return storage::PipelineRepository().Delete(tx, "shop", "");
  }));
  ASSERT_OK(s.Tick());
  EXPECT_EQ(s.Indexed(), 0);
  EXPECT_FALSE(s.NextFire().has_value());
  clock_.Advance(absl::Hours(48));
  EXPECT_EQ(s.Tick()->started, 0);
  EXPECT_EQ(Runs(), 1);
}

TEST_F(SchedulerTest, HeldAndFrozenStagesSkipTheirTime) {
  Scheduler s(db_.get(), executor_.get(), &clock_);
  ASSERT_OK(s.Tick());
  ASSERT_OK(db_->Write([&](storage::Transaction& tx) {
    v1::StageHold hold;
    hold.set_pipeline("shop");
    hold.set_stage("nightly");
    hold.set_reason("incident");
    return storage::StageHoldRepository().Put(tx, hold);
  }));
  AdvanceTo(3, 0);
  auto r = s.Tick();
  ASSERT_OK(r);
  EXPECT_EQ(r->started, 0);
  EXPECT_EQ(r->skipped, 1);
  EXPECT_EQ(Runs(), 0);
}

TEST(FreezeTest, WindowsCoverTheirDuration) {
  v1::Stage stage;
  auto* w = stage.mutable_protection()->add_freeze_windows();
  w->set_cron("0 18 * * fri");
  w->mutable_duration()->set_seconds(62 * 3600);
  w->set_reason("weekend");
  auto at = [](int d, int h) {
    return absl::FromCivil(absl::CivilHour(2026, 11, d, h), absl::UTCTimeZone());
  };
  EXPECT_FALSE(ActiveFreeze(stage, at(27, 17)).has_value());  // Friday 17:00
  EXPECT_EQ(ActiveFreeze(stage, at(27, 18)), "weekend");      // Friday 18:00
  EXPECT_EQ(ActiveFreeze(stage, at(29, 12)), "weekend");      // Sunday
  EXPECT_FALSE(ActiveFreeze(stage, at(30, 8)).has_value());   // Monday 08:00
}

}  // namespace
}  // namespace slipway::trigger
