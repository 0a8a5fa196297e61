#include "pipeline/pipeline_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/proto_time.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/sequential_ids.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::pipeline {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class PipelineManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::Database::Open({.path = dir_.File("db")});
    ASSERT_OK(db);
    db_ = *std::move(db);
    manager_ = std::make_unique<PipelineManager>(db_.get(), &clock_, &ids_);
  }
  v1::CreatePipelineRequest CreateRequest(const std::string& name, const std::string& id = "") {
    v1::CreatePipelineRequest r;
    *r.mutable_pipeline() = testing::MinimalPipeline(name);
    r.set_request_id(id);
    return r;
  }
  // The pipeline as stored, secrets included.
  v1::Pipeline Stored(const std::string& name) {
    v1::Pipeline p;
    EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
      auto got = storage::PipelineRepository().Get(tx, name);
      if (got.ok()) p = *got;
      return got.status();
    }));
    return p;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::SequentialIds ids_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<PipelineManager> manager_;
};

TEST_F(PipelineManagerTest, CreateStampsMetadataAndHidesSecrets) {
  auto created = manager_->Create(CreateRequest("shop"));
  ASSERT_OK(created);
  EXPECT_EQ(created->revision(), 1);
  EXPECT_FALSE(created->uid().empty());
  EXPECT_FALSE(created->etag().empty());
  EXPECT_EQ(FormatTimestamp(created->create_time()), "2026-09-21T14:13:20.000Z");
  EXPECT_TRUE(created->sources(0).webhook_secret().redacted());
  EXPECT_EQ(created->sources(0).webhook_secret().value(), "");
  EXPECT_EQ(Stored("shop").sources(0).webhook_secret().value(), "s3cret");

  auto got = manager_->Get("shop");
  ASSERT_OK(got);
  EXPECT_EQ(got->SerializeAsString().find("s3cret"), std::string::npos);
}

TEST_F(PipelineManagerTest, CreateRejectsInvalidSpecsAndDuplicates) {
  auto bad = CreateRequest("shop");
  bad.mutable_pipeline()->mutable_stages(0)->mutable_resources(0)->set_driver("dokcer");
  EXPECT_THAT(manager_->Create(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("stages[dev].resources[web].driver: unknown driver \"dokcer\"")));
  EXPECT_THAT(manager_->Get("shop"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("shop")));
  ASSERT_OK(manager_->Create(CreateRequest("shop")));
  EXPECT_THAT(manager_->Create(CreateRequest("shop")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already exists")));
}

TEST_F(PipelineManagerTest, CreateWithTheSameRequestIdReturnsTheFirstResult) {
  auto first = manager_->Create(CreateRequest("shop", "ci-123"));
  ASSERT_OK(first);
  auto retry = manager_->Create(CreateRequest("shop", "ci-123"));
  ASSERT_OK(retry);
  EXPECT_EQ(retry->uid(), first->uid());
  EXPECT_EQ(retry->etag(), first->etag());
  EXPECT_THAT(manager_->Create(CreateRequest("other", "ci-123")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("request_id")));
}

TEST_F(PipelineManagerTest, UpdateNeedsTheCurrentEtag) {
  auto created = manager_->Create(CreateRequest("shop"));
  ASSERT_OK(created);
  v1::UpdatePipelineRequest req;
  *req.mutable_pipeline() = *created;
  req.mutable_pipeline()->set_description("v2");
  clock_.Advance(absl::Minutes(5));
  auto updated = manager_->Update(req);
  ASSERT_OK(updated);
  EXPECT_EQ(updated->revision(), 2);
  EXPECT_NE(updated->etag(), created->etag());
  EXPECT_EQ(CompareTime(updated->create_time(), created->create_time()), 0);
  EXPECT_EQ(FormatTimestamp(updated->update_time()), "2026-09-21T14:18:20.000Z");
  // The redacted secret sent back kept its stored value.
  EXPECT_EQ(Stored("shop").sources(0).webhook_secret().value(), "s3cret");

  // The same request again carries the old etag: ABORTED, nothing changes.
  req.mutable_pipeline()->set_description("v3");
  EXPECT_THAT(manager_->Update(req), StatusIs(absl::StatusCode::kAborted, HasSubstr("stale")));
  EXPECT_EQ(Stored("shop").description(), "v2");
  EXPECT_EQ(Stored("shop").revision(), 2);

  req.mutable_pipeline()->clear_etag();
  EXPECT_THAT(manager_->Update(req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pipeline.etag: required")));
  req.mutable_pipeline()->set_etag("x");
  req.mutable_pipeline()->set_name("ghost");
  EXPECT_THAT(manager_->Update(req), StatusIs(absl::StatusCode::kNotFound, HasSubstr("ghost")));
}

TEST_F(PipelineManagerTest, InvalidUpdateChangesNothing) {
  auto created = manager_->Create(CreateRequest("shop"));
  ASSERT_OK(created);
  v1::UpdatePipelineRequest req;
  *req.mutable_pipeline() = *created;
  req.mutable_pipeline()->mutable_stages(0)->set_name("Dev");
  EXPECT_THAT(manager_->Update(req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stages[0].name")));
  EXPECT_EQ(Stored("shop").etag(), created->etag());
}

TEST_F(PipelineManagerTest, ApplyCreatesUpdatesAndReportsUnchanged) {
  v1::ApplyPipelineRequest req;
  *req.mutable_pipeline() = testing::MinimalPipeline("shop");
  auto first = manager_->Apply(req);
  ASSERT_OK(first);
  EXPECT_EQ(first->result(), v1::ApplyPipelineResponse::RESULT_CREATED);

  auto same = manager_->Apply(req);
  ASSERT_OK(same);
  EXPECT_EQ(same->result(), v1::ApplyPipelineResponse::RESULT_UNCHANGED);
  EXPECT_EQ(same->pipeline().etag(), first->pipeline().etag());

  // What `get -o yaml` returns (redacted, with metadata) applies as unchanged too.
  v1::ApplyPipelineRequest round_trip;
  *round_trip.mutable_pipeline() = *manager_->Get("shop");
  EXPECT_EQ(manager_->Apply(round_trip)->result(), v1::ApplyPipelineResponse::RESULT_UNCHANGED);

  req.mutable_pipeline()->set_description("new");
  req.mutable_pipeline()->mutable_stages(1)->mutable_protection()->set_required_approvals(2);
  auto stage = req.pipeline().stages(1);
  stage.set_name("qa");
  *req.mutable_pipeline()->add_stages() = stage;
  auto updated = manager_->Apply(req);
  ASSERT_OK(updated);
  EXPECT_EQ(updated->result(), v1::ApplyPipelineResponse::RESULT_UPDATED);
  EXPECT_EQ(updated->pipeline().revision(), 2);
  EXPECT_THAT(updated->changed(), ElementsAre("description", "stages[prod]", "+stages[qa]"));
}

TEST_F(PipelineManagerTest, DeleteWithEtagAndNotFound) {
  auto created = manager_->Create(CreateRequest("shop"));
  ASSERT_OK(created);
  v1::DeletePipelineRequest req;
  req.set_name("shop");
  req.set_etag("stale");
  EXPECT_THAT(manager_->Delete(req), StatusIs(absl::StatusCode::kAborted, HasSubstr("stale")));
  req.set_etag(created->etag());
  EXPECT_OK(manager_->Delete(req));
  EXPECT_THAT(manager_->Delete(req), StatusIs(absl::StatusCode::kNotFound, HasSubstr("shop")));
  req.set_name("Bad Name");
  EXPECT_THAT(manager_->Delete(req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
}

TEST_F(PipelineManagerTest, ListPagesThroughEverything) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_OK(manager_->Create(CreateRequest("p" + std::to_string(i))));
  }
  ASSERT_OK(manager_->Create(CreateRequest("other")));
  v1::ListPipelinesRequest req;
  req.set_page_size(3);
  req.set_name_prefix("p");
  std::vector<std::string> names;
  int pages = 0;
  do {
    auto resp = manager_->List(req);
    ASSERT_OK(resp);
    for (const auto& p : resp->pipelines()) names.push_back(p.name());
    req.set_page_token(resp->next_page_token());
    ++pages;
  } while (!req.page_token().empty());
  EXPECT_THAT(names, ElementsAre("p0", "p1", "p2", "p3", "p4", "p5", "p6"));
  EXPECT_EQ(pages, 3);

  req.set_page_size(101);
  EXPECT_THAT(manager_->List(req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  req.set_page_size(10);
  req.set_page_token("zz");
  EXPECT_THAT(manager_->List(req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  req.clear_page_token();
  req.set_name_prefix("P%");
  EXPECT_THAT(manager_->List(req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name_prefix")));
}

TEST_F(PipelineManagerTest, GetNeverReturnsAStaleCopyAfterAWrite) {
  ASSERT_OK(manager_->Create(CreateRequest("shop")));
  ASSERT_EQ(manager_->Get("shop")->description(), "test pipeline");  // now cached
  v1::ApplyPipelineRequest apply;
  *apply.mutable_pipeline() = testing::MinimalPipeline("shop");
  apply.mutable_pipeline()->set_description("changed");
  ASSERT_OK(manager_->Apply(apply));
  EXPECT_EQ(manager_->Get("shop")->description(), "changed");
  v1::UpdatePipelineRequest update;
  *update.mutable_pipeline() = *manager_->Get("shop");
  update.mutable_pipeline()->set_description("updated");
  ASSERT_OK(manager_->Update(update));
  EXPECT_EQ(manager_->Get("shop")->description(), "updated");
  v1::DeletePipelineRequest del;
  del.set_name("shop");
  ASSERT_OK(manager_->Delete(del));
  EXPECT_THAT(manager_->Get("shop"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("shop")));
}

TEST_F(PipelineManagerTest, ValidateListsEveryProblemAndWritesNothing) {
  v1::ValidatePipelineRequest req;
  *req.mutable_pipeline() = testing::MinimalPipeline("shop");
  req.mutable_pipeline()->mutable_stages(0)->mutable_resources(0)->set_driver("dokcer");
  req.mutable_pipeline()->mutable_stages(1)->set_name("BAD");
  auto resp = manager_->Validate(req);
  EXPECT_FALSE(resp.valid());
  EXPECT_GE(resp.problems_size(), 2);
  EXPECT_THAT(manager_->Get("shop"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("shop")));
}

}  // namespace
}  // namespace slipway::pipeline
