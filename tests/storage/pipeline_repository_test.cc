#include "storage/pipeline_repository.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/pipelines.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

class PipelineRepositoryTest : public ::testing::TestWithParam<testing::StoreKind> {
 protected:
  void SetUp() override {
    auto db = store_.Open();
    ASSERT_OK(db);
    db_ = *std::move(db);
  }
  v1::Pipeline Make(const std::string& name, const std::string& etag = "e1") {
    v1::Pipeline p = testing::MinimalPipeline(name);
    p.set_uid("uid-" + name);
    p.set_etag(etag);
    p.set_revision(1);
    return p;
  }
  absl::Status Write(std::function<absl::Status(Transaction&)> fn) { return db_->Write(fn); }

  testing::TempDir dir_;
  testing::TestStore store_{GetParam(), dir_.path()};
  std::unique_ptr<Database> db_;
  PipelineRepository repo_;
};

TEST_P(PipelineRepositoryTest, InsertRejectsADuplicateName) {
  ASSERT_OK(Write([&](Transaction& tx) { return repo_.Insert(tx, Make("shop")); }));
  v1::Pipeline again = Make("shop");
  again.set_uid("other");
  EXPECT_THAT(
      Write([&](Transaction& tx) { return repo_.Insert(tx, again); }),
      StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("pipeline \"shop\" already exists")));
}

TEST_P(PipelineRepositoryTest, UpdateChecksTheEtag) {
  ASSERT_OK(Write([&](Transaction& tx) { return repo_.Insert(tx, Make("shop", "e1")); }));
  v1::Pipeline next = Make("shop", "e2");
  next.set_description("changed");
  EXPECT_THAT(Write([&](Transaction& tx) { return repo_.Update(tx, next, "stale"); }),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("stale")));
  ASSERT_OK(Write([&](Transaction& tx) { return repo_.Update(tx, next, "e1"); }));
  ASSERT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
    auto got = repo_.Get(tx, "shop");
    EXPECT_EQ(got->description(), "changed");
    EXPECT_EQ(got->etag(), "e2");
    return absl::OkStatus();
  }));
  EXPECT_THAT(Write([&](Transaction& tx) { return repo_.Update(tx, Make("nope"), "e1"); }),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
}

TEST_P(PipelineRepositoryTest, DeleteWithAndWithoutEtag) {
  ASSERT_OK(Write([&](Transaction& tx) { return repo_.Insert(tx, Make("a", "ea")); }));
  ASSERT_OK(Write([&](Transaction& tx) { return repo_.Insert(tx, Make("b", "eb")); }));
  EXPECT_THAT(Write([&](Transaction& tx) { return repo_.Delete(tx, "a", "wrong"); }),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("\"a\"")));
  EXPECT_OK(Write([&](Transaction& tx) { return repo_.Delete(tx, "a", "ea"); }));
  EXPECT_OK(Write([&](Transaction& tx) { return repo_.Delete(tx, "b", ""); }));
  EXPECT_THAT(Write([&](Transaction& tx) { return repo_.Delete(tx, "b", ""); }),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("\"b\"")));
}

TEST_P(PipelineRepositoryTest, ListPagesInNameOrderWithPrefix) {
  for (const char* n : {"web-b", "api", "web-a", "web-c", "worker"}) {
    ASSERT_OK(Write([&](Transaction& tx) { return repo_.Insert(tx, Make(n)); }));
  }
  ASSERT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
    auto page = repo_.List(tx, "web-", "", 2);
    EXPECT_EQ(page->size(), 2u);
    EXPECT_EQ((*page)[0].name(), "web-a");
    EXPECT_EQ((*page)[1].name(), "web-b");
    auto rest = repo_.List(tx, "web-", "web-b", 2);
    EXPECT_EQ(rest->size(), 1u);
    EXPECT_EQ((*rest)[0].name(), "web-c");
    auto all = repo_.List(tx, "", "", 100);
    EXPECT_EQ(all->size(), 5u);
    return absl::OkStatus();
  }));
}

TEST_P(PipelineRepositoryTest, SourceBindingsFollowWritesAndAreBackfilledByTheMigration) {
  v1::Pipeline p = Make("shop");  // binds github acme/shop
  ASSERT_OK(Write([&](Transaction& tx) { return repo_.Insert(tx, p); }));
  auto bound = [&](const char* repo) {
    std::vector<std::string> names;
    EXPECT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
      auto pipelines = PipelinesBoundTo(tx, v1::PROVIDER_GITHUB, repo);
      if (!pipelines.ok()) return pipelines.status();
      for (const auto& got : *pipelines) {
        EXPECT_OK(got);
        if (got.ok()) names.push_back(got->name());
      }
      return absl::OkStatus();
    }));
    return names;
  };
  EXPECT_THAT(bound("Acme/Shop"), ::testing::ElementsAre("shop"));
  // Rebinding on update, unbinding on delete.
  v1::Pipeline next = p;
  next.mutable_sources(0)->set_repository("acme/store");
  next.set_etag("e2");
  ASSERT_OK(Write([&](Transaction& tx) { return repo_.Update(tx, next, "e1"); }));
  EXPECT_TRUE(bound("acme/shop").empty());
  EXPECT_THAT(bound("acme/store"), ::testing::ElementsAre("shop"));
  // A database from before the index: the migration indexes what is stored. (SQLite only: a
  // PostgreSQL store starts at a schema that has the index.)
  if (GetParam() == testing::StoreKind::kPostgres) return;
  ASSERT_OK(Write([&](Transaction& tx) -> absl::Status {
    // Back to version 6: the tables of later migrations go too.
    for (const char* sql :
         {"DROP TABLE source_bindings", "DROP TABLE polled_refs", "DROP TABLE poll_schedule",
          "DROP TABLE previews", "DROP TABLE preview_subjects", "DROP TABLE write_probe",
          "DROP TABLE settings", "DROP TABLE pipeline_revisions", "DROP TABLE audit_records",
          "DROP TABLE gitops_bindings", "DROP TABLE leases", "DROP TABLE pipeline_changes",
          "DROP TABLE run_commands", "DROP INDEX runs_active_by_seq",
          "DROP INDEX deliveries_by_receive", "ALTER TABLE deliveries DROP COLUMN receive_ms",
          "ALTER TABLE deliveries DROP COLUMN repository", "PRAGMA user_version = 6"}) {
      auto stmt = tx.Prepare(sql);
      if (!stmt.ok()) return stmt.status();
      if (auto s = (*stmt)->Run(); !s.ok()) return s;
    }
    return absl::OkStatus();
  }));
  db_.reset();
  auto db = store_.Open();
  ASSERT_OK(db);
  db_ = *std::move(db);
  EXPECT_THAT(bound("acme/store"), ::testing::ElementsAre("shop"));
  ASSERT_OK(Write([&](Transaction& tx) { return repo_.Delete(tx, "shop", ""); }));
  EXPECT_TRUE(bound("acme/store").empty());
}

INSTANTIATE_TEST_SUITE_P(Stores, PipelineRepositoryTest, ::testing::ValuesIn(testing::kBothStores),
                         testing::StoreKindName);

}  // namespace
}  // namespace slipway::storage
