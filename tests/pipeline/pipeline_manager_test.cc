#include "pipeline/pipeline_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/sequential_ids.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::pipeline {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::AllOf;
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

// A pipeline that declares arguments, with a secret one.
v1::Pipeline WithArguments(const std::string& name) {
  v1::Pipeline p = testing::MinimalPipeline(name);
  auto* version = p.add_arguments();
  version->set_name("version");
  version->set_default_("0.0.0-${short_sha(trigger.sha)}");
  auto* region = p.add_arguments();
  region->set_name("region");
  region->set_required(true);
  auto* key = p.add_arguments();
  key->set_name("api-key");
  key->set_secret(true);
  (*p.mutable_argument_overrides())["region"] = "us";
  (*p.mutable_secret_argument_overrides())["api-key"] = "k-123-secret";
  p.mutable_stages(0)
      ->mutable_flow()
      ->mutable_sequential()
      ->mutable_steps(0)
      ->mutable_deploy()
      ->mutable_artifact()
      ->set_version("${args.version}-${args.region}");
  return p;
}

v1::ApplyPipelineRequest ApplyRequest(const v1::Pipeline& p, const std::string& message = "",
                                      bool dry_run = false) {
  v1::ApplyPipelineRequest r;
  *r.mutable_pipeline() = p;
  r.set_message(message);
  r.set_dry_run(dry_run);
  return r;
}

TEST_F(PipelineManagerTest, HistoryKeepsEveryRevisionWithItsAuthorAndDiffsAnyTwo) {
  const Author alice{
      .actor = "token:tok-a", .description = "alice", .source = v1::REVISION_SOURCE_CLI};
  const Author ci{.actor = "token:tok-b", .description = "ci", .source = v1::REVISION_SOURCE_API};
  v1::Pipeline p = testing::MinimalPipeline("shop");
  for (int i = 1; i <= 5; ++i) {
    p.set_description(absl::StrCat("version ", i));
    if (i == 4) p.mutable_stages(1)->set_concurrency(v1::CONCURRENCY_POLICY_FORBID);
    clock_.Advance(absl::Minutes(1));
    auto applied = manager_->Apply(ApplyRequest(p, absl::StrCat("change ", i)), i % 2 ? alice : ci);
    ASSERT_OK(applied);
    EXPECT_EQ(applied->pipeline().revision(), i);
  }
  v1::ListPipelineRevisionsRequest list;
  list.set_pipeline("shop");
  list.set_page_size(2);
  auto page = manager_->ListRevisions(list);
  ASSERT_OK(page);
  ASSERT_EQ(page->revisions_size(), 2);
  EXPECT_EQ(page->revisions(0).revision(), 5);
  EXPECT_EQ(page->revisions(0).actor(), "token:tok-a");
  EXPECT_EQ(page->revisions(0).actor_description(), "alice");
  EXPECT_EQ(page->revisions(0).source(), v1::REVISION_SOURCE_CLI);
  EXPECT_EQ(page->revisions(0).message(), "change 5");
  EXPECT_THAT(page->revisions(0).changed(), ElementsAre("description"));
  EXPECT_EQ(page->revisions(1).actor(), "token:tok-b");
  EXPECT_THAT(page->revisions(1).changed(), ElementsAre("description", "stages[prod]"));
  EXPECT_FALSE(page->revisions(0).has_spec());  // lists carry no specs
  list.set_page_token(page->next_page_token());
  list.set_page_size(10);
  page = manager_->ListRevisions(list);
  ASSERT_OK(page);
  ASSERT_EQ(page->revisions_size(), 3);
  EXPECT_EQ(page->revisions(2).revision(), 1);
  EXPECT_TRUE(page->revisions(2).changed().empty());
  EXPECT_TRUE(page->next_page_token().empty());

  v1::DiffPipelineRevisionsRequest diff;
  diff.set_pipeline("shop");
  diff.set_from_revision(3);
  diff.set_to_revision(5);
  auto d = manager_->DiffRevisions(diff);
  ASSERT_OK(d);
  ASSERT_EQ(d->changes_size(), 2);
  EXPECT_EQ(d->changes(0).path(), "description");
  EXPECT_EQ(d->changes(0).before(), "version 3");
  EXPECT_EQ(d->changes(0).after(), "version 5");
  EXPECT_EQ(d->changes(1).path(), "stages[prod].concurrency");
  EXPECT_EQ(d->changes(1).before(), "CONCURRENCY_POLICY_UNSPECIFIED");
  EXPECT_EQ(d->changes(1).after(), "CONCURRENCY_POLICY_FORBID");

  v1::GetPipelineRevisionRequest get;
  get.set_pipeline("shop");
  get.set_revision(2);
  auto r2 = manager_->GetRevision(get);
  ASSERT_OK(r2);
  EXPECT_EQ(r2->spec().description(), "version 2");
  EXPECT_TRUE(r2->spec().sources(0).webhook_secret().redacted());
  EXPECT_EQ(r2->spec().sources(0).webhook_secret().value(), "");
  get.set_revision(6);
  EXPECT_THAT(manager_->GetRevision(get),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no revision 6")));
  list.set_page_token("x");
  EXPECT_THAT(manager_->ListRevisions(list),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
}

TEST_F(PipelineManagerTest, DryRunApplyShowsTheDiffAndChangesNothing) {
  v1::Pipeline p = testing::MinimalPipeline("shop");
  auto created = manager_->Apply(ApplyRequest(p, "", /*dry_run=*/true));
  ASSERT_OK(created);
  EXPECT_EQ(created->result(), v1::ApplyPipelineResponse::RESULT_CREATED);
  EXPECT_THAT(manager_->Get("shop"), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  ASSERT_OK(manager_->Apply(ApplyRequest(p)));
  const v1::Pipeline before = Stored("shop");

  p.set_description("new words");
  p.mutable_sources(0)->mutable_webhook_secret()->set_value("rotated-secret");
  auto dry = manager_->Apply(ApplyRequest(p, "", true));
  ASSERT_OK(dry);
  EXPECT_EQ(dry->result(), v1::ApplyPipelineResponse::RESULT_UPDATED);
  EXPECT_EQ(dry->pipeline().revision(), 1);
  std::vector<std::string> paths;
  for (const auto& c : dry->changes()) {
    paths.push_back(c.path());
    EXPECT_THAT(c.before() + c.after(), ::testing::Not(HasSubstr("s3cret")));
    EXPECT_THAT(c.before() + c.after(), ::testing::Not(HasSubstr("rotated-secret")));
  }
  EXPECT_THAT(paths, ElementsAre("description", "sources[app].webhook_secret.value"));
  EXPECT_EQ(dry->changes(1).before(), "***");
  EXPECT_EQ(dry->changes(1).after(), "***");
  // Nothing was written: the same stored bytes and one revision in the history.
  EXPECT_EQ(Stored("shop").SerializeAsString(), before.SerializeAsString());
  v1::ListPipelineRevisionsRequest list;
  list.set_pipeline("shop");
  auto history = manager_->ListRevisions(list);
  ASSERT_OK(history);
  EXPECT_EQ(history->revisions_size(), 1);
  // An invalid spec fails the dry run as it would fail the apply.
  p.clear_stages();
  EXPECT_THAT(manager_->Apply(ApplyRequest(p, "", true)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stages")));
}

TEST_F(PipelineManagerTest, DeletionIsInTheHistoryAndARecreatedPipelineContinuesIt) {
  ASSERT_OK(manager_->Apply(ApplyRequest(testing::MinimalPipeline("shop"))));
  v1::DeletePipelineRequest del;
  del.set_name("shop");
  ASSERT_OK(manager_->Delete(del, Author{.actor = "token:tok-x"}));
  auto again = manager_->Apply(ApplyRequest(testing::MinimalPipeline("shop")));
  ASSERT_OK(again);
  EXPECT_EQ(again->pipeline().revision(), 3);
  v1::ListPipelineRevisionsRequest list;
  list.set_pipeline("shop");
  auto history = manager_->ListRevisions(list);
  ASSERT_OK(history);
  ASSERT_EQ(history->revisions_size(), 3);
  EXPECT_TRUE(history->revisions(1).deleted());
  EXPECT_EQ(history->revisions(1).actor(), "token:tok-x");
  EXPECT_NE(history->revisions(0).uid(), history->revisions(2).uid());
  list.set_pipeline("never");
  EXPECT_THAT(manager_->ListRevisions(list), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST_F(PipelineManagerTest, SecretArgumentOverridesAreWriteOnly) {
  auto applied = manager_->Apply(ApplyRequest(WithArguments("shop")));
  ASSERT_OK(applied);
  EXPECT_EQ(applied->pipeline().secret_argument_overrides().at("api-key"), "***");
  auto got = manager_->Get("shop");
  ASSERT_OK(got);
  EXPECT_EQ(got->secret_argument_overrides().at("api-key"), "***");
  EXPECT_EQ(got->argument_overrides().at("region"), "us");
  EXPECT_THAT(got->DebugString(), ::testing::Not(HasSubstr("k-123-secret")));
  // What `get -o yaml` returned applies again unchanged: the stored secret stays.
  auto reapplied = manager_->Apply(ApplyRequest(*got));
  ASSERT_OK(reapplied);
  EXPECT_EQ(reapplied->result(), v1::ApplyPipelineResponse::RESULT_UNCHANGED);
  EXPECT_EQ(Stored("shop").secret_argument_overrides().at("api-key"), "k-123-secret");
  // A new value is taken, and the history shows that it changed, not what to.
  v1::Pipeline next = *got;
  (*next.mutable_secret_argument_overrides())["api-key"] = "k-456-secret";
  auto updated = manager_->Apply(ApplyRequest(next));
  ASSERT_OK(updated);
  ASSERT_EQ(updated->changes_size(), 1);
  EXPECT_EQ(updated->changes(0).path(), "secret_argument_overrides[api-key]");
  EXPECT_EQ(updated->changes(0).after(), "***");
  v1::GetPipelineRevisionRequest get;
  get.set_pipeline("shop");
  get.set_revision(2);
  auto r = manager_->GetRevision(get);
  ASSERT_OK(r);
  EXPECT_THAT(r->DebugString(), ::testing::Not(HasSubstr("k-456")));
  EXPECT_EQ(Stored("shop").secret_argument_overrides().at("api-key"), "k-456-secret");
}

TEST_F(PipelineManagerTest, ArgumentsAreCheckedAtApplyTime) {
  auto problems_of = [&](const v1::Pipeline& p) {
    v1::ValidatePipelineRequest r;
    *r.mutable_pipeline() = p;
    std::vector<std::string> out;
    const v1::ValidatePipelineResponse response = manager_->Validate(r);
    for (const auto& problem : response.problems()) {
      out.push_back(problem.field() + ": " + problem.message());
    }
    return out;
  };
  EXPECT_THAT(problems_of(WithArguments("shop")), ::testing::IsEmpty());
  {
    v1::Pipeline p = WithArguments("shop");
    p.mutable_stages(0)
        ->mutable_flow()
        ->mutable_sequential()
        ->mutable_steps(0)
        ->mutable_deploy()
        ->mutable_artifact()
        ->set_version("${args.colour}");
    EXPECT_THAT(problems_of(p), ElementsAre(HasSubstr("\"args.colour\": argument \"colour\" is "
                                                      "not declared in arguments")));
  }
  {
    v1::Pipeline p = WithArguments("shop");
    p.clear_argument_overrides();  // region is required; dev's push trigger does not give it
    EXPECT_THAT(problems_of(p), ElementsAre(AllOf(HasSubstr("stages[dev].triggers[0].git.args"),
                                                  HasSubstr("\"region\" is required"))));
    (*p.mutable_stages(0)->mutable_triggers(0)->mutable_git()->mutable_args())["region"] = "eu";
    EXPECT_THAT(problems_of(p), ::testing::IsEmpty());
  }
  {
    v1::Pipeline p = WithArguments("shop");
    (*p.mutable_argument_overrides())["api-key"] = "plain";
    (*p.mutable_argument_overrides())["nope"] = "x";
    p.mutable_arguments(0)->set_default_("${args.region}");
    p.mutable_arguments(1)->set_default_("eu");
    p.add_arguments()->set_name("Bad Name");
    EXPECT_THAT(
        problems_of(p),
        ::testing::UnorderedElementsAre(
            HasSubstr("argument_overrides[api-key]: a secret argument"),
            HasSubstr("argument_overrides[nope]: argument \"nope\" is not declared"),
            HasSubstr("arguments[version].default: at 3: \"args.region\": a default may read"),
            HasSubstr("arguments[region].default: a required argument has no default"),
            HasSubstr("arguments[3].name: \"Bad Name\" is not an argument name")));
  }
}

}  // namespace
}  // namespace slipway::pipeline
