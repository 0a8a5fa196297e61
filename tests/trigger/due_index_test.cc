#include "trigger/due_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace slipway::trigger {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Item {
  std::string pipeline;
  int64_t next_ms = 0;
};

TEST(DueIndexTest, APipelineChangeReplacesOnlyItsKeys) {
  DueIndex<Item> index;
  storage::ChangeFeed::Changes all;
  all.everything = true;
  index.Replace(all, {{"a/1", {"a", 10}}, {"a/2", {"a", 30}}, {"b/1", {"b", 20}}});
  EXPECT_THAT(index.DueAt(25), ElementsAre("a/1", "b/1"));
  EXPECT_EQ(index.Earliest(), 10);
  storage::ChangeFeed::Changes a_changed;
  a_changed.keys = {"a"};
  index.Replace(a_changed, {{"a/3", {"a", 5}}});
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Find("a/1"), nullptr);
  EXPECT_THAT(index.DueAt(25), ElementsAre("a/3", "b/1"));
  index.SetNext("a/3", DueIndex<Item>::kNever);  // never again: not due, still indexed
  EXPECT_THAT(index.DueAt(1000), ElementsAre("b/1"));
  index.Erase("b/1");
  EXPECT_THAT(index.DueAt(1000), IsEmpty());
  EXPECT_FALSE(index.Earliest().has_value());
  storage::ChangeFeed::Changes a_deleted;
  a_deleted.keys = {"a"};
  index.Replace(a_deleted, {});
  EXPECT_EQ(index.size(), 0u);
}

}  // namespace
}  // namespace slipway::trigger
