// The write journal: what a commit takes, what it leaves for runs still being started, and
// what a failed commit gives back, in order.
#include "release/run_journal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace slipway::release {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

v1::RunEvent Event(const std::string& run, int64_t seq) {
  v1::RunEvent e;
  e.set_run_id(run);
  e.set_sequence(seq);
  return e;
}

std::vector<std::string> Keys(const std::vector<v1::RunEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.run_id() + "#" + std::to_string(e.sequence()));
  return out;
}

TEST(RunJournalTest, ACommitLeavesRunsThatAreStillStarting) {
  RunJournal j;
  j.MarkDirty("run-a");
  j.AddEvent(Event("run-a", 1));
  j.MarkDirty("run-new");
  j.AddEvent(Event("run-new", 1));
  v1::ResourceState web;
  web.set_name("web");
  j.AddResource({"shop", "prod"}, web);
  int posted = 0;
  j.AddTask([&] { ++posted; });
  JournalBatch b = j.Take([](const std::string& id) { return id == "run-new"; });
  EXPECT_THAT(b.run_ids, ElementsAre("run-a"));
  EXPECT_THAT(Keys(b.events), ElementsAre("run-a#1"));
  ASSERT_EQ(b.resources.size(), 1u);
  EXPECT_EQ(b.resources[0].first.pipeline, "shop");
  EXPECT_EQ(b.resources[0].first.stage, "prod");
  EXPECT_EQ(b.tasks.size(), 1u);
  // The starting run's record and event wait for the next commit.
  JournalBatch next = j.Take([](const std::string&) { return false; });
  EXPECT_THAT(next.run_ids, ElementsAre("run-new"));
  EXPECT_THAT(Keys(next.events), ElementsAre("run-new#1"));
  EXPECT_THAT(next.resources, IsEmpty());
}

TEST(RunJournalTest, AFailedCommitComesBackAheadOfWhatWasAddedMeanwhile) {
  RunJournal j;
  j.MarkDirty("run-a");
  j.AddEvent(Event("run-a", 1));
  v1::Release r1;
  r1.set_run_id("run-a");
  j.AddRelease(r1);
  JournalBatch b = j.Take([](const std::string&) { return false; });
  j.AddEvent(Event("run-a", 2));
  v1::Release r2;
  r2.set_run_id("run-b");
  j.AddRelease(r2);
  j.Restore(std::move(b));
  JournalBatch again = j.Take([](const std::string&) { return false; });
  EXPECT_THAT(Keys(again.events), ElementsAre("run-a#1", "run-a#2"));
  ASSERT_EQ(again.releases.size(), 2u);
  EXPECT_EQ(again.releases[0].run_id(), "run-a");
  EXPECT_EQ(again.releases[1].run_id(), "run-b");
  EXPECT_THAT(again.run_ids, IsEmpty());  // the caller lists its runs again
}

TEST(RunJournalTest, ANewRunsFirstEventsAndItsMarkAreTakenByItsStart) {
  RunJournal j;
  j.AddEvent(Event("run-a", 3));
  const size_t before = j.event_count();
  j.AddEvent(Event("run-new", 1));
  j.MarkDirty("run-new");
  EXPECT_THAT(Keys(j.TakeEventsFrom(before)), ElementsAre("run-new#1"));
  EXPECT_TRUE(j.TakeLastDirty("run-new"));
  EXPECT_FALSE(j.TakeLastDirty("run-new"));
  j.MarkDirty("run-gone");
  j.AddEvent(Event("run-gone", 1));
  j.Forget("run-gone");
  JournalBatch b = j.Take([](const std::string&) { return false; });
  EXPECT_THAT(b.run_ids, IsEmpty());
  EXPECT_THAT(Keys(b.events), ElementsAre("run-a#3"));
}

}  // namespace
}  // namespace slipway::release
