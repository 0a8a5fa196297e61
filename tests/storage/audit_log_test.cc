#include "storage/audit_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/proto_time.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

class AuditLogTest : public ::testing::TestWithParam<testing::StoreKind> {
 protected:
  void SetUp() override {
    auto db = store_.Open();
    ASSERT_OK(db);
    db_ = *std::move(db);
    log_ = std::make_unique<AuditLog>(db_.get(), &clock_);
  }
  void Add(const std::string& actor, const std::string& action, const std::string& target,
           const absl::Status& outcome = absl::OkStatus()) {
    v1::AuditRecord r;
    r.set_actor(actor);
    r.set_action(action);
    r.set_target(target);
    r.set_outcome(OutcomeOf(outcome));
    ASSERT_OK(log_->Record(r));
    clock_.Advance(absl::Minutes(1));
  }
  std::vector<std::string> Targets(const v1::ListAuditRecordsRequest& req) {
    auto page = log_->List(req);
    EXPECT_OK(page);
    std::vector<std::string> out;
    if (page.ok()) {
      for (const auto& r : page->records()) out.push_back(r.target());
    }
    return out;
  }

  testing::TempDir dir_;
  testing::TestStore store_{GetParam(), dir_.path()};
  testing::FakeClock clock_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<AuditLog> log_;
};

TEST_P(AuditLogTest, ListsNewestFirstFilteredAndPaged) {
  Add("token:a", "PipelineService/ApplyPipeline", "shop");
  Add("token:a", "ReleaseService/HoldStage", "shop/prod");
  Add("token:b", "ReleaseService/StartRun", "shop-eu/dev");
  Add("schedule", "schedule/StartRun", "shop/dev");
  Add("token:b", "ReleaseService/RollbackStage", "shop/prod",
      absl::FailedPreconditionError("stage shop/prod has no release before 1"));
  v1::ListAuditRecordsRequest all;
  EXPECT_THAT(Targets(all),
              ::testing::ElementsAre("shop/prod", "shop/dev", "shop-eu/dev", "shop/prod", "shop"));
  v1::ListAuditRecordsRequest by_target;
  by_target.set_target("shop");  // shop and what is under it, not shop-eu
  EXPECT_THAT(Targets(by_target),
              ::testing::ElementsAre("shop/prod", "shop/dev", "shop/prod", "shop"));
  v1::ListAuditRecordsRequest by_actor;
  by_actor.set_actor("token:b");
  by_actor.set_action("ReleaseService/");
  auto page = log_->List(by_actor);
  ASSERT_OK(page);
  ASSERT_EQ(page->records_size(), 2);
  EXPECT_EQ(page->records(0).outcome(),
            "FAILED_PRECONDITION: stage shop/prod has no release before 1");
  EXPECT_GT(page->records(0).sequence(), page->records(1).sequence());
  v1::ListAuditRecordsRequest since;
  *since.mutable_since() = ProtoTime(clock_.Now() - absl::Minutes(2));
  EXPECT_THAT(Targets(since), ::testing::ElementsAre("shop/prod", "shop/dev"));

  v1::ListAuditRecordsRequest paged;
  paged.set_page_size(2);
  std::vector<std::string> seen;
  do {
    auto p = log_->List(paged);
    ASSERT_OK(p);
    for (const auto& r : p->records()) seen.push_back(r.target());
    paged.set_page_token(p->next_page_token());
  } while (!paged.page_token().empty());
  EXPECT_EQ(seen, Targets(all));

  paged.set_page_token("-3");
  EXPECT_THAT(log_->List(paged),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  paged.set_page_token("");
  paged.set_page_size(1001);
  EXPECT_THAT(log_->List(paged),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  v1::ListAuditRecordsRequest long_filter;
  long_filter.set_target(std::string(600, 'x'));
  EXPECT_THAT(log_->List(long_filter),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target: at most 512")));
}

TEST_P(AuditLogTest, OutcomesAreBoundedAndMaskCredentials) {
  Add("token:a", "PipelineService/ApplyPipeline", "shop",
      absl::InvalidArgumentError("clone https://bot:hunter2@git.example.com/x failed " +
                                 std::string(2000, 'y')));
  auto page = log_->List({});
  ASSERT_OK(page);
  ASSERT_EQ(page->records_size(), 1);
  EXPECT_THAT(page->records(0).outcome(), ::testing::Not(HasSubstr("hunter2")));
  EXPECT_LE(page->records(0).outcome().size(), kMaxAuditOutcomeBytes);
}

TEST_P(AuditLogTest, ShipsEachRecordAsAJsonLineToAPrivateFile) {
  const std::string path = dir_.File("audit.jsonl");
  ASSERT_OK(log_->ShipTo(path));
  Add("token:a", "PipelineService/ApplyPipeline", "shop");
  ASSERT_OK(db_->Write([&](Transaction& tx) {
    v1::AuditRecord r;
    r.set_actor("webhook:github:d1");
    r.set_action("webhook/StartRun");
    r.set_target("shop/dev");
    return log_->Append(tx, r);
  }));
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string lines = text.str();
  EXPECT_THAT(lines, HasSubstr("\"action\":\"PipelineService/ApplyPipeline\""));
  EXPECT_THAT(lines, HasSubstr("\"actor\":\"webhook:github:d1\""));
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 2);
  EXPECT_THAT(lines, HasSubstr("\"sequence\":\"2\""));  // the one it was stored under
  // A record appended by a write that is then rolled back is neither stored nor shipped.
  EXPECT_THAT(db_->Write([&](Transaction& tx) -> absl::Status {
    v1::AuditRecord r;
    r.set_actor("webhook:github:d2");
    r.set_action("webhook/StartRun");
    r.set_target("shop/dev");
    if (absl::Status s = log_->Append(tx, r); !s.ok()) return s;
    return absl::AbortedError("the action failed after its record");
  }),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("after its record")));
  std::ifstream again(path);
  std::stringstream after;
  after << again.rdbuf();
  EXPECT_THAT(after.str(), Not(HasSubstr("webhook:github:d2")));
  EXPECT_THAT(Targets({}), ::testing::SizeIs(2));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST_P(AuditLogTest, RetentionPrunesOnlyOldRecords) {
  Add("token:a", "A/Old", "shop");
  clock_.Advance(absl::Hours(48));
  Add("token:a", "A/New", "shop");
  auto pruned = log_->Prune(absl::Hours(24));
  ASSERT_OK(pruned);
  EXPECT_EQ(*pruned, 1);
  auto page = log_->List({});
  ASSERT_OK(page);
  ASSERT_EQ(page->records_size(), 1);
  EXPECT_EQ(page->records(0).action(), "A/New");
}

INSTANTIATE_TEST_SUITE_P(Stores, AuditLogTest, ::testing::ValuesIn(testing::kBothStores),
                         testing::StoreKindName);

}  // namespace
}  // namespace slipway::storage
