#include "storage/run_repository.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_macros.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RunRepositoryTest : public ::testing::TestWithParam<testing::StoreKind> {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    db_.reset();
    auto db = store_.Open();
    ASSERT_OK(db);
    db_ = *std::move(db);
  }
  v1::Run MakeRun(const std::string& id, const std::string& stage, v1::RunState state) {
    v1::Run r;
    r.set_id(id);
    r.set_pipeline("shop");
    r.set_stage(stage);
    r.set_state(state);
    return r;
  }
  absl::Status W(std::function<absl::Status(Transaction&)> fn) { return db_->Write(fn); }

  testing::TempDir dir_;
  testing::TestStore store_{GetParam(), dir_.path()};
  std::unique_ptr<Database> db_;
  RunRepository runs_;
  ReleaseRepository releases_;
  StageResourceRepository resources_;
};

std::vector<std::string> Ids(const std::vector<v1::Run>& runs) {
  std::vector<std::string> out;
  for (const auto& r : runs) out.push_back(r.id());
  return out;
}

TEST_P(RunRepositoryTest, RunsAreListedNewestFirstAndActiveOnesOldestFirst) {
  ASSERT_OK(W([&](Transaction& tx) -> absl::Status {
    EXPECT_EQ(*runs_.Insert(tx, MakeRun("a", "dev", v1::RUN_STATE_SUCCEEDED)), 1);
    EXPECT_EQ(*runs_.Insert(tx, MakeRun("b", "dev", v1::RUN_STATE_RUNNING)), 2);
    EXPECT_EQ(*runs_.Insert(tx, MakeRun("c", "prod", v1::RUN_STATE_QUEUED)), 3);
    EXPECT_EQ(*runs_.Insert(tx, MakeRun("d", "dev", v1::RUN_STATE_QUEUED)), 4);
    return absl::OkStatus();
  }));
  Reopen();
  ASSERT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
    EXPECT_THAT(Ids(*runs_.List(tx, {.pipeline = "shop", .stage = "dev"})),
                ElementsAre("d", "b", "a"));
    EXPECT_THAT(Ids(*runs_.List(tx, {.states = {v1::RUN_STATE_QUEUED}})), ElementsAre("d", "c"));
    EXPECT_THAT(Ids(*runs_.List(tx, {.before_seq = 3, .limit = 1})), ElementsAre("b"));
    EXPECT_THAT(Ids(*runs_.ListActive(tx)), ElementsAre("b", "c", "d"));
    EXPECT_THAT(Ids(*runs_.ListActive(tx, "shop", "dev")), ElementsAre("b", "d"));
    EXPECT_THAT(runs_.Get(tx, "zzz"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("zzz")));
    return absl::OkStatus();
  }));
  ASSERT_OK(W([&](Transaction& tx) {
    return runs_.Update(tx, MakeRun("b", "dev", v1::RUN_STATE_FAILED));
  }));
  ASSERT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
    EXPECT_THAT(Ids(*runs_.ListActive(tx, "shop", "dev")), ElementsAre("d"));
    EXPECT_EQ(runs_.Get(tx, "b")->state(), v1::RUN_STATE_FAILED);
    return absl::OkStatus();
  }));
  EXPECT_THAT(W([&](Transaction& tx) {
                return runs_.Update(tx, MakeRun("x", "dev", v1::RUN_STATE_FAILED));
              }),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("x")));
}

TEST_P(RunRepositoryTest, EventsComeBackInOrderAfterASequence) {
  ASSERT_OK(W([&](Transaction& tx) -> absl::Status {
    for (int i = 1; i <= 5; ++i) {
      v1::RunEvent e;
      e.set_run_id("a");
      e.set_sequence(i);
      e.set_log("line " + std::to_string(i));
      if (auto s = runs_.AppendEvent(tx, e); !s.ok()) return s;
    }
    return absl::OkStatus();
  }));
  ASSERT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
    auto events = runs_.EventsAfter(tx, "a", 2, 2);
    EXPECT_EQ(events->size(), 2u);
    EXPECT_EQ((*events)[0].log(), "line 3");
    EXPECT_EQ((*events)[1].log(), "line 4");
    EXPECT_TRUE(runs_.EventsAfter(tx, "b", 0, 10)->empty());
    return absl::OkStatus();
  }));
}

TEST_P(RunRepositoryTest, ReleasesAreNumberedPerStage) {
  ASSERT_OK(W([&](Transaction& tx) -> absl::Status {
    v1::Release r;
    r.set_pipeline("shop");
    r.set_stage("dev");
    EXPECT_EQ(*releases_.Insert(tx, r), 1);
    EXPECT_EQ(*releases_.Insert(tx, r), 2);
    r.set_stage("prod");
    EXPECT_EQ(*releases_.Insert(tx, r), 1);
    return absl::OkStatus();
  }));
  ASSERT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
    EXPECT_EQ((*releases_.Latest(tx, "shop", "dev"))->number(), 2);
    EXPECT_FALSE(releases_.Latest(tx, "shop", "qa")->has_value());
    EXPECT_EQ(releases_.Get(tx, "shop", "dev", 1)->number(), 1);
    EXPECT_THAT(releases_.Get(tx, "shop", "dev", 9),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("shop/dev 9")));
    auto list = releases_.List(tx, "shop", "dev", 0, 10);
    EXPECT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].number(), 2);
    EXPECT_EQ(releases_.List(tx, "shop", "dev", 2, 10)->size(), 1u);
    return absl::OkStatus();
  }));
}

TEST_P(RunRepositoryTest, ReleasesWrittenTogetherAreNumberedInOrderWithTheirStagesResources) {
  v1::ResourceState web;
  web.set_name("web");
  v1::ResourceState api;
  api.set_name("api");
  ASSERT_OK(W([&](Transaction& tx) -> absl::Status {
    RETURN_IF_ERROR(resources_.Put(tx, "shop", "dev", web));
    RETURN_IF_ERROR(resources_.Put(tx, "shop", "prod", web));
    RETURN_IF_ERROR(resources_.Put(tx, "shop", "prod", api));
    v1::Release r;
    r.set_pipeline("shop");
    r.set_stage("dev");
    return releases_.Insert(tx, r).status();
  }));
  std::vector<v1::Release> batch;
  for (const auto& [stage, run] : std::vector<std::pair<std::string, std::string>>{
           {"dev", "b"}, {"prod", "c"}, {"dev", "d"}, {"qa", "e"}, {"prod", "f"}}) {
    v1::Release r;
    r.set_pipeline("shop");
    r.set_stage(stage);
    r.set_run_id(run);
    batch.push_back(r);
  }
  ASSERT_OK(W([&](Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto numbers, releases_.InsertWithResources(tx, batch));
    EXPECT_THAT(numbers, ElementsAre(2, 1, 3, 1, 2));
    return absl::OkStatus();
  }));
  ASSERT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(v1::Release dev, releases_.Get(tx, "shop", "dev", 3));
    EXPECT_EQ(dev.run_id(), "d");
    EXPECT_EQ(dev.resources_size(), 1);
    ASSIGN_OR_RETURN(v1::Release prod, releases_.Get(tx, "shop", "prod", 2));
    EXPECT_EQ(prod.run_id(), "f");
    std::vector<std::string> names;
    for (const v1::ResourceState& s : prod.resources()) names.push_back(s.name());
    EXPECT_THAT(names, ElementsAre("api", "web"));  // in name order
    ASSIGN_OR_RETURN(v1::Release qa, releases_.Get(tx, "shop", "qa", 1));
    EXPECT_EQ(qa.resources_size(), 0);
    return absl::OkStatus();
  }));
}

TEST_P(RunRepositoryTest, StageResourcesAreReplacedByName) {
  v1::ResourceState web;
  web.set_name("web");
  web.mutable_artifact()->set_version("1");
  ASSERT_OK(W([&](Transaction& tx) { return resources_.Put(tx, "shop", "dev", web); }));
  web.mutable_artifact()->set_version("2");
  ASSERT_OK(W([&](Transaction& tx) { return resources_.Put(tx, "shop", "dev", web); }));
  ASSERT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
    EXPECT_EQ((*resources_.Get(tx, "shop", "dev", "web"))->artifact().version(), "2");
    EXPECT_FALSE(resources_.Get(tx, "shop", "prod", "web")->has_value());
    EXPECT_EQ(resources_.List(tx, "shop", "dev")->size(), 1u);
    return absl::OkStatus();
  }));
}

INSTANTIATE_TEST_SUITE_P(Stores, RunRepositoryTest, ::testing::ValuesIn(testing::kBothStores),
                         testing::StoreKindName);

}  // namespace
}  // namespace slipway::storage
