// Leases and the write fence on both stores, with two Database objects standing for two
// slipwayd processes on one store.
#include "storage/lease_repository.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/pipeline_repository.h"
#include "storage/postgres.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

class LeaseTest : public ::testing::TestWithParam<testing::StoreKind> {
 protected:
  void SetUp() override {
    auto a = store_.Open();
    ASSERT_OK(a);
    a_ = *std::move(a);
    auto b = store_.Open();
    ASSERT_OK(b);
    b_ = *std::move(b);
  }
  std::optional<Lease> Acquire(Database& db, const std::string& owner, int64_t now) {
    std::optional<Lease> got;
    EXPECT_OK(db.Write([&](Transaction& tx) -> absl::Status {
      auto l = leases_.Acquire(tx, "controller", owner, now, 10000, "info-" + owner);
      if (!l.ok()) return l.status();
      got = *l;
      return absl::OkStatus();
    }));
    return got;
  }
  absl::Status InsertPipeline(Database& db, const std::string& name) {
    return db.Write([&](Transaction& tx) {
      v1::Pipeline p = testing::MinimalPipeline(name);
      p.set_uid("uid-" + name);
      p.set_etag("e1");
      return PipelineRepository().Insert(tx, p);
    });
  }
  bool Stored(Database& db, const std::string& name) {
    bool found = false;
    EXPECT_OK(db.Read([&](Transaction& tx) {
      found = PipelineRepository().Get(tx, name).ok();
      return absl::OkStatus();
    }));
    return found;
  }

  testing::TempDir dir_;
  testing::TestStore store_{GetParam(), dir_.path()};
  std::unique_ptr<Database> a_;
  std::unique_ptr<Database> b_;
  LeaseRepository leases_;
};

TEST_P(LeaseTest, OneHolderAtATimeAndEveryAcquisitionRaisesTheToken) {
  std::optional<Lease> first = Acquire(*a_, "replica-a", 1000);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->token, 1);
  EXPECT_EQ(first->expire_ms, 11000);
  // Held: the other cannot take it before it expires.
  EXPECT_FALSE(Acquire(*b_, "replica-b", 5000).has_value());
  // Renewed by its holder, it lasts longer.
  ASSERT_OK(a_->Write([&](Transaction& tx) {
    return leases_.Renew(tx, "controller", "replica-a", 1, 9000, 10000, "renewed");
  }));
  EXPECT_FALSE(Acquire(*b_, "replica-b", 15000).has_value());
  // Expired: taken over under the next token; the old holder's renewal is refused.
  std::optional<Lease> taken = Acquire(*b_, "replica-b", 19001);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->token, 2);
  EXPECT_THAT(a_->Write([&](Transaction& tx) {
    return leases_.Renew(tx, "controller", "replica-a", 1, 19002, 10000, "late");
  }),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("replica-b holds it under token 2")));
  // Listed with what the holder says of itself.
  ASSERT_OK(a_->Read([&](Transaction& tx) -> absl::Status {
    auto all = leases_.List(tx, "contr");
    if (!all.ok()) return all.status();
    EXPECT_EQ(all->size(), 1u);
    if (!all->empty()) {
      EXPECT_EQ((*all)[0].owner, "replica-b");
      EXPECT_EQ((*all)[0].info, "info-replica-b");
    }
    return absl::OkStatus();
  }));
  // Released, it can be taken at once.
  ASSERT_OK(b_->Write(
      [&](Transaction& tx) { return leases_.Release(tx, "controller", "replica-b", 2); }));
  std::optional<Lease> again = Acquire(*a_, "replica-a", 19003);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->token, 3);
}

TEST_P(LeaseTest, AFencedProcessWritesNothingOnceItsLeaseIsTakenOver) {
  std::optional<Lease> mine = Acquire(*a_, "replica-a", 1000);
  ASSERT_TRUE(mine.has_value());
  // Unfenced and fenced writes alike: the fence's lease read rides with the write's first round
  // trip (on PostgreSQL; SQLite has none).
  const uint64_t unfenced_before = PostgresRoundTrips();
  ASSERT_OK(InsertPipeline(*a_, "unfenced"));
  const uint64_t unfenced = PostgresRoundTrips() - unfenced_before;
  a_->SetWriteFence(WriteFence{"controller", "replica-a", mine->token});
  const uint64_t fenced_before = PostgresRoundTrips();
  ASSERT_OK(InsertPipeline(*a_, "before"));
  EXPECT_EQ(PostgresRoundTrips() - fenced_before, unfenced);
  // Replica a is paused past its lease; b takes it over.
  ASSERT_TRUE(Acquire(*b_, "replica-b", 12000).has_value());
  // a wakes up: every write it makes is refused, and none lands.
  EXPECT_THAT(InsertPipeline(*a_, "stale"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("fenced")));
  EXPECT_EQ(a_->fenced_writes(), 1u);
  EXPECT_TRUE(Stored(*b_, "before"));
  EXPECT_FALSE(Stored(*b_, "stale"));
  // b, unfenced or fenced with its own token, writes.
  ASSERT_OK(InsertPipeline(*b_, "after"));
  EXPECT_TRUE(Stored(*a_, "after"));
}

INSTANTIATE_TEST_SUITE_P(Stores, LeaseTest, ::testing::ValuesIn(testing::kBothStores),
                         testing::StoreKindName);

}  // namespace
}  // namespace slipway::storage
