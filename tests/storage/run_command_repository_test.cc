// Calls passed between replicas: the rows' life (waiting, taken, answered) and the withdraw race,
// on both stores, with two Database objects standing for two slipwayd processes.
#include "storage/run_command_repository.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

class RunCommandTest : public ::testing::TestWithParam<testing::StoreKind> {
 protected:
  void SetUp() override {
    auto a = store_.Open();
    ASSERT_OK(a);
    a_ = *std::move(a);
    auto b = store_.Open();
    ASSERT_OK(b);
    b_ = *std::move(b);
  }
  int64_t Add(Database& db, const std::string& run_id, int64_t created_ms) {
    int64_t seq = 0;
    EXPECT_OK(db.Write([&](Transaction& tx) -> absl::Status {
      RunCommand c{.run_id = run_id,
                   .kind = "approve",
                   .by = "token:bob",
                   .node = "go",
                   .text = "looks right",
                   .created_ms = created_ms};
      auto added = commands_.Add(tx, c);
      if (!added.ok()) return added.status();
      seq = *added;
      return absl::OkStatus();
    }));
    return seq;
  }
  template <typename T>
  T InWrite(Database& db, const std::function<absl::StatusOr<T>(Transaction&)>& fn) {
    T out{};
    EXPECT_OK(db.Write([&](Transaction& tx) -> absl::Status {
      auto got = fn(tx);
      if (!got.ok()) return got.status();
      out = *got;
      return absl::OkStatus();
    }));
    return out;
  }
  std::vector<RunCommand> Waiting(Database& db) {
    std::vector<RunCommand> out;
    EXPECT_OK(db.Read([&](Transaction& tx) -> absl::Status {
      auto got = commands_.Waiting(tx, 10);
      if (!got.ok()) return got.status();
      out = *got;
      return absl::OkStatus();
    }));
    return out;
  }
  std::optional<RunCommand> Get(Database& db, int64_t seq) {
    std::optional<RunCommand> out;
    EXPECT_OK(db.Read([&](Transaction& tx) -> absl::Status {
      auto got = commands_.Get(tx, seq);
      if (!got.ok()) return got.status();
      out = *got;
      return absl::OkStatus();
    }));
    return out;
  }

  testing::TempDir dir_;
  testing::TestStore store_{GetParam(), dir_.path()};
  std::unique_ptr<Database> a_;
  std::unique_ptr<Database> b_;
  RunCommandRepository commands_;
};

TEST_P(RunCommandTest, ACallIsTakenOnceAnsweredAndRemoved) {
  const int64_t first = Add(*a_, "run-1", 1000);
  const int64_t second = Add(*a_, "run-2", 2000);
  EXPECT_GT(second, first);
  std::vector<RunCommand> waiting = Waiting(*b_);
  ASSERT_EQ(waiting.size(), 2u);
  EXPECT_EQ(waiting[0].seq, first);  // oldest first
  EXPECT_EQ(waiting[0].run_id, "run-1");
  EXPECT_EQ(waiting[0].kind, "approve");
  EXPECT_EQ(waiting[0].by, "token:bob");
  EXPECT_EQ(waiting[0].node, "go");
  EXPECT_EQ(waiting[0].text, "looks right");
  EXPECT_EQ(waiting[0].created_ms, 1000);
  EXPECT_EQ(waiting[0].state, RunCommand::kWaiting);
  // b takes the first; a second take (or a's withdraw) finds it taken.
  auto take = [&](Transaction& tx) { return commands_.Take(tx, first); };
  EXPECT_TRUE(InWrite<bool>(*b_, take));
  EXPECT_FALSE(InWrite<bool>(*b_, take));
  EXPECT_FALSE(InWrite<bool>(
      *a_, [&](Transaction& tx) { return commands_.Remove(tx, first, /*only_waiting=*/true); }));
  EXPECT_EQ(Waiting(*a_).size(), 1u);
  ASSERT_OK(b_->Write([&](Transaction& tx) {
    return commands_.Answer(tx, first, absl::PermissionDeniedError("not you"));
  }));
  std::optional<RunCommand> answered = Get(*a_, first);
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->state, RunCommand::kAnswered);
  EXPECT_EQ(answered->code, static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(answered->message, "not you");
  EXPECT_TRUE(InWrite<bool>(
      *a_, [&](Transaction& tx) { return commands_.Remove(tx, first, /*only_waiting=*/false); }));
  EXPECT_FALSE(Get(*a_, first).has_value());
  // The second is withdrawn before anybody takes it: then nobody can.
  EXPECT_TRUE(InWrite<bool>(
      *a_, [&](Transaction& tx) { return commands_.Remove(tx, second, /*only_waiting=*/true); }));
  EXPECT_FALSE(InWrite<bool>(*b_, [&](Transaction& tx) { return commands_.Take(tx, second); }));
  EXPECT_TRUE(Waiting(*b_).empty());
}

TEST_P(RunCommandTest, CallsLeftBehindArePrunedByAge) {
  Add(*a_, "run-1", 1000);
  const int64_t young = Add(*a_, "run-2", 5000);
  EXPECT_EQ(InWrite<int64_t>(*a_, [&](Transaction& tx) { return commands_.DeleteOlder(tx, 3000); }),
            1);
  std::vector<RunCommand> left = Waiting(*a_);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].seq, young);
}

INSTANTIATE_TEST_SUITE_P(Stores, RunCommandTest, ::testing::ValuesIn(testing::kBothStores),
                         testing::StoreKindName);

}  // namespace
}  // namespace slipway::storage
