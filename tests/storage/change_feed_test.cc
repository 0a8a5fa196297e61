#include "storage/change_feed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/database.h"
#include "storage/pipeline_repository.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ChangeFeedTest, AReaderGetsWhatChangedSinceItLastAsked) {
  ChangeFeed feed(/*capacity=*/4);
  ChangeFeed::Changes first = feed.Since(0);
  EXPECT_TRUE(first.everything);  // a new reader reads everything once
  feed.Publish({"a", "b"});
  ChangeFeed::Changes next = feed.Since(first.next);
  EXPECT_FALSE(next.everything);
  EXPECT_THAT(next.keys, ElementsAre("a", "b"));
  EXPECT_THAT(feed.Since(next.next).keys, IsEmpty());
  // Fallen more than `capacity` keys behind: told to read everything again.
  feed.Publish({"c", "d", "e", "f", "g"});
  EXPECT_TRUE(feed.Since(next.next).everything);
  ChangeFeed::Changes now = feed.Since(0);
  feed.Publish({"h"});
  EXPECT_THAT(feed.Since(now.next).keys, ElementsAre("h"));
}

class ChangeFeedStoreTest : public ::testing::TestWithParam<testing::StoreKind> {};

TEST_P(ChangeFeedStoreTest, OnlyCommittedPipelineWritesArePublished) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  auto db = store.Open();
  ASSERT_OK(db);
  const uint64_t start = (*db)->pipeline_changes().Since(0).next;
  PipelineRepository repo;
  v1::Pipeline shop = testing::MinimalPipeline("shop");
  shop.set_uid("u1");
  shop.set_etag("e1");
  // Rolled back: nothing to see.
  EXPECT_FALSE((*db)
                   ->Write([&](Transaction& tx) -> absl::Status {
                     if (absl::Status s = repo.Insert(tx, shop); !s.ok()) return s;
                     return absl::InternalError("fails after the insert");
                   })
                   .ok());
  EXPECT_THAT((*db)->pipeline_changes().Since(start).keys, IsEmpty());
  ASSERT_OK((*db)->Write([&](Transaction& tx) { return repo.Insert(tx, shop); }));
  v1::Pipeline edited = shop;
  edited.set_etag("e2");
  ASSERT_OK((*db)->Write([&](Transaction& tx) { return repo.Update(tx, edited, "e1"); }));
  // A stale etag changes nothing, and says nothing changed.
  EXPECT_FALSE((*db)->Write([&](Transaction& tx) { return repo.Update(tx, edited, "e1"); }).ok());
  ASSERT_OK((*db)->Write([&](Transaction& tx) { return repo.Delete(tx, "shop", ""); }));
  EXPECT_THAT((*db)->pipeline_changes().Since(start).keys, ElementsAre("shop", "shop", "shop"));
}

INSTANTIATE_TEST_SUITE_P(Stores, ChangeFeedStoreTest, ::testing::ValuesIn(testing::kBothStores),
                         testing::StoreKindName);

}  // namespace
}  // namespace slipway::storage
