// The replica set on both stores: several Database objects on one store stand for several
// slipwayd processes, a fake clock for time. Real lease rows, real fencing.
#include "server/replica_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "storage/lease_repository.h"
#include "storage/pipeline_repository.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::server {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One process: its database connection, its replica set and what the hooks saw.
struct Process {
  std::unique_ptr<storage::Database> db;
  std::unique_ptr<ReplicaSet> replicas;
  std::vector<std::string> adopted_from;
  std::vector<std::string> taken;
  int lost = 0;
};

class ReplicaSetTest : public ::testing::TestWithParam<testing::StoreKind> {
 protected:
  Process& Start(const std::string& id) {
    auto p = std::make_unique<Process>();
    auto db = store_.Open();
    EXPECT_OK(db);
    p->db = *std::move(db);
    ReplicaSetOptions o;
    o.self.set_id(id);
    o.self.set_version("test");
    o.lease = absl::Seconds(10);
    for (const char* w : kReplicaWork) o.work.push_back(w);
    Process* raw = p.get();
    ReplicaHooks hooks;
    hooks.adopt_runs = [raw](const std::string& from) -> absl::StatusOr<int> {
      raw->adopted_from.push_back(from);
      return 2;
    };
    hooks.work_taken = [raw](const std::string& w) { raw->taken.push_back(w); };
    hooks.lost = [raw](const absl::Status&) { ++raw->lost; };
    p->replicas = std::make_unique<ReplicaSet>(p->db.get(), &clock_, std::move(o), hooks);
    EXPECT_OK(p->replicas->Join());
    procs_[id] = std::move(p);
    return *procs_[id];
  }

  // Every named process ticks once, then time moves on by a tick.
  void Round(const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      absl::Status s = procs_[id]->replicas->Tick();
      if (!procs_[id]->replicas->lost()) {
        EXPECT_OK(s);
      }
    }
    clock_.Advance(absl::Milliseconds(500));
  }

  std::map<std::string, std::set<std::string>> Owners() {
    std::map<std::string, std::set<std::string>> out;  // work → owners
    for (const auto& [id, p] : procs_) {
      for (const char* w : kReplicaWork) {
        if (p->replicas->Owns(w)) out[w].insert(id);
      }
    }
    return out;
  }

  absl::Status InsertPipeline(storage::Database& db, const std::string& name) {
    return db.Write([&](storage::Transaction& tx) {
      v1::Pipeline p = testing::MinimalPipeline(name);
      p.set_uid("uid-" + name);
      p.set_etag("e1");
      return storage::PipelineRepository().Insert(tx, p);
    });
  }

  testing::TempDir dir_;
  testing::TestStore store_{GetParam(), dir_.path()};
  testing::FakeClock clock_;
  std::map<std::string, std::unique_ptr<Process>> procs_;
};

TEST_P(ReplicaSetTest, EveryPieceOfWorkHasOneOwnerAndTheSharesAreEven) {
  Start("a");
  for (int i = 0; i < 12; ++i) Round({"a"});
  // Alone, a replica takes all the work.
  for (const auto& [w, owners] : Owners()) EXPECT_THAT(owners, ElementsAre("a")) << w;
  EXPECT_EQ(Owners().size(), std::size(kReplicaWork));
  Start("b");
  Start("c");
  for (int i = 0; i < 30; ++i) Round({"a", "b", "c"});
  std::map<std::string, int> count;
  for (const auto& [w, owners] : Owners()) {
    ASSERT_EQ(owners.size(), 1u) << w << " has several owners";
    ++count[*owners.begin()];
  }
  EXPECT_EQ(Owners().size(), std::size(kReplicaWork));
  // Five pieces over three replicas: at most two each, and every replica has some.
  for (const char* id : {"a", "b", "c"}) {
    EXPECT_GE(count[id], 1) << id;
    EXPECT_LE(count[id], 2) << id;
  }
}

TEST_P(ReplicaSetTest, ADeadReplicasRunsAndWorkAreTakenOverAndItsWritesRefused) {
  Process& a = Start("a");
  for (int i = 0; i < 12; ++i) Round({"a"});
  Process& b = Start("b");
  for (int i = 0; i < 10; ++i) Round({"a", "b"});
  ASSERT_TRUE(a.replicas->Owns("scheduler") || b.replicas->Owns("scheduler"));
  // a stops renewing (paused, killed): within the lease time, b holds everything.
  for (int i = 0; i < 24; ++i) Round({"b"});
  EXPECT_THAT(b.adopted_from, ElementsAre("a"));
  EXPECT_EQ(b.replicas->adopted_runs(), 2);
  for (const auto& [w, owners] : Owners()) {
    EXPECT_TRUE(owners.contains("b")) << w;
  }
  // a wakes up: what it writes is refused, and it learns it has lost.
  EXPECT_THAT(InsertPipeline(*a.db, "stale"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("fenced")));
  EXPECT_THAT(a.replicas->Tick(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lost")));
  EXPECT_EQ(a.lost, 1);
  EXPECT_TRUE(a.replicas->lost());
  EXPECT_FALSE(a.replicas->RunIfOwner("scheduler", [] {}));
  EXPECT_OK(InsertPipeline(*b.db, "fresh"));
  // The listing says who is live and what b owns now.
  auto list = ListReplicas(*b.db, clock_);
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);  // a's registration went once its runs were adopted
  EXPECT_EQ((*list)[0].id(), "b");
  EXPECT_TRUE((*list)[0].live());
  EXPECT_EQ((*list)[0].work_size(), static_cast<int>(std::size(kReplicaWork)));
}

TEST_P(ReplicaSetTest, NothingIsTakenOverWhileTheOwnerRenews) {
  Process& a = Start("a");
  Process& b = Start("b");
  for (int i = 0; i < 60; ++i) Round({"a", "b"});  // 30 s: three lease times
  EXPECT_TRUE(a.adopted_from.empty());
  EXPECT_TRUE(b.adopted_from.empty());
  EXPECT_EQ(a.lost + b.lost, 0);
  auto list = ListReplicas(*a.db, clock_);
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 2u);
  for (const v1::Replica& r : *list) {
    EXPECT_TRUE(r.live()) << r.id();
    EXPECT_EQ(r.lease_token(), 1) << r.id();  // never taken from it
  }
}

TEST_P(ReplicaSetTest, AReplicaThatLeftIsAdoptedAtOnce) {
  Process& a = Start("a");
  Process& b = Start("b");
  for (int i = 0; i < 10; ++i) Round({"a", "b"});
  a.replicas->Leave();
  EXPECT_FALSE(a.replicas->Owns("scheduler"));
  Round({"b"});
  Round({"b"});
  // Well within the lease time.
  EXPECT_THAT(b.adopted_from, ElementsAre("a"));
  for (int i = 0; i < 6; ++i) Round({"b"});
  for (const auto& [w, owners] : Owners()) EXPECT_THAT(owners, ElementsAre("b")) << w;
}

TEST_P(ReplicaSetTest, WorkIsNotDoneOnALeaseThatMayHaveRunOut) {
  Process& a = Start("a");
  for (int i = 0; i < 12; ++i) Round({"a"});
  bool ran = false;
  EXPECT_TRUE(a.replicas->RunIfOwner("scheduler", [&] { ran = true; }));
  EXPECT_TRUE(ran);
  // No renewal for a lease time: the local clock says the lease may be gone.
  clock_.Advance(absl::Seconds(10));
  ran = false;
  EXPECT_FALSE(a.replicas->RunIfOwner("scheduler", [&] { ran = true; }));
  EXPECT_FALSE(ran);
  // Renewed (nobody took it meanwhile): work goes on.
  Round({"a"});
  EXPECT_TRUE(a.replicas->RunIfOwner("scheduler", [&] { ran = true; }));
}

TEST_P(ReplicaSetTest, TwoLiveReplicasCannotShareAnId) {
  Start("a");
  auto db = store_.Open();
  ASSERT_OK(db);
  ReplicaSetOptions o;
  o.self.set_id("a");
  ReplicaSet again(db->get(), &clock_, o, {});
  EXPECT_THAT(again.Join(), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("live replica")));
}

INSTANTIATE_TEST_SUITE_P(Stores, ReplicaSetTest, ::testing::ValuesIn(testing::kBothStores),
                         testing::StoreKindName);

}  // namespace
}  // namespace slipway::server
