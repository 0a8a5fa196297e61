// Delivery records on a real SQLite file: what cannot be decoded never gets in, and if it is
// there anyway it is skipped, not fatal; retention by age and by count.
#include "storage/delivery_repository.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/proto_time.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

v1::Delivery Record(const std::string& id, absl::Time received, const std::string& repo = "a/b") {
  v1::Delivery d;
  d.set_id(id);
  d.set_provider(v1::PROVIDER_GITHUB);
  d.set_delivery_id("gh-" + id);
  *d.mutable_receive_time() = ProtoTime(received);
  d.mutable_event()->set_repository(repo);
  d.set_status(202);
  return d;
}

class DeliveryRepositoryTest : public ::testing::TestWithParam<testing::StoreKind> {
 protected:
  void SetUp() override {
    auto db = store_.Open();
    ASSERT_OK(db);
    db_ = *std::move(db);
  }
  absl::Status Insert(const v1::Delivery& d) {
    return db_->Write(
        [&](Transaction& tx) { return DeliveryRepository().Insert(tx, d, /*claims_id=*/true); });
  }
  DeliveryPage List(const std::string& pipeline = "", std::vector<std::string> repos = {}) {
    DeliveryPage page;
    EXPECT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
      auto p = DeliveryRepository().List(tx, pipeline, repos, 100);
      if (!p.ok()) return p.status();
      page = *std::move(p);
      return absl::OkStatus();
    }));
    return page;
  }

  testing::TempDir dir_;
  testing::TestStore store_{GetParam(), dir_.path()};
  std::unique_ptr<Database> db_;
  const absl::Time t0_ = absl::FromUnixSeconds(1'790'000'000);
};

TEST_P(DeliveryRepositoryTest, ARecordWithTextThatIsNotUtf8IsRefusedAndNothingIsStored) {
  v1::Delivery bad = Record("d1", t0_);
  (*bad.mutable_headers())["user-agent"] = "evil\xff\xfe";
  EXPECT_THAT(Insert(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
  EXPECT_TRUE(List().deliveries.empty());
  ASSERT_OK(Insert(Record("d2", t0_)));
  EXPECT_EQ(List().deliveries.size(), 1u);
}

TEST_P(DeliveryRepositoryTest, AStoredRecordThatCannotBeDecodedIsSkippedAndNamed) {
  ASSERT_OK(Insert(Record("good-1", t0_)));
  ASSERT_OK(db_->Write([&](Transaction& tx) -> absl::Status {
    auto stmt = tx.Prepare(
        "INSERT INTO deliveries (id, seq, provider, delivery_id, duplicate, spec) "
        "VALUES ('broken', 1000, 1, 'x', 1, ?)");
    if (!stmt.ok()) return stmt.status();
    return (*stmt)->BindBlob(1, std::string("\x0a\xff", 2)).Run();
  }));
  ASSERT_OK(Insert(Record("good-2", t0_)));
  DeliveryPage page = List();
  ASSERT_EQ(page.deliveries.size(), 2u);
  EXPECT_EQ(page.deliveries[0].id(), "good-2");
  EXPECT_EQ(page.deliveries[1].id(), "good-1");
  EXPECT_THAT(page.undecodable, ::testing::ElementsAre("broken"));
}

TEST_P(DeliveryRepositoryTest,
       APipelinesListingIncludesItsRepositoriesDeliveriesThatMatchedNothing) {
  ASSERT_OK(Insert(Record("mine", t0_, "Acme/Shop")));
  ASSERT_OK(Insert(Record("theirs", t0_, "other/repo")));
  v1::Delivery matched = Record("matched", t0_, "third/repo");
  matched.add_matches()->set_pipeline("shop");
  ASSERT_OK(Insert(matched));
  DeliveryPage page = List("shop", {DeliveryRepositoryKey(v1::PROVIDER_GITHUB, "acme/shop")});
  ASSERT_EQ(page.deliveries.size(), 2u);
  EXPECT_EQ(page.deliveries[0].id(), "matched");
  EXPECT_EQ(page.deliveries[1].id(), "mine");
}

TEST_P(DeliveryRepositoryTest, PruneDeletesByAgeAndKeepsTheNewestByCount) {
  for (int i = 0; i < 10; ++i)
    ASSERT_OK(Insert(Record("d" + std::to_string(i), t0_ + absl::Hours(i))));
  int64_t deleted = 0;
  ASSERT_OK(db_->Write([&](Transaction& tx) -> absl::Status {
    auto n = DeliveryRepository().Prune(tx, {.older_than = t0_ + absl::Hours(3)});
    if (!n.ok()) return n.status();
    deleted = *n;
    return absl::OkStatus();
  }));
  EXPECT_EQ(deleted, 3);  // d0, d1, d2
  ASSERT_OK(db_->Write([&](Transaction& tx) -> absl::Status {
    auto n = DeliveryRepository().Prune(tx, {.keep = 4});
    if (!n.ok()) return n.status();
    deleted = *n;
    return absl::OkStatus();
  }));
  EXPECT_EQ(deleted, 3);  // d3, d4, d5
  DeliveryPage page = List();
  ASSERT_EQ(page.deliveries.size(), 4u);
  EXPECT_EQ(page.deliveries.front().id(), "d9");
  EXPECT_EQ(page.deliveries.back().id(), "d6");
}

INSTANTIATE_TEST_SUITE_P(Stores, DeliveryRepositoryTest, ::testing::ValuesIn(testing::kBothStores),
                         testing::StoreKindName);

}  // namespace
}  // namespace slipway::storage
