#include "storage/database.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/fault_injection.h"
#include "storage/pipeline_repository.h"
#include "storage/postgres.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::IsOkAndHolds;
using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

absl::StatusOr<int> CountPipelines(Database& db) {
  int n = -1;
  absl::Status s = db.Read([&](Transaction& tx) -> absl::Status {
    auto stmt = tx.Prepare("SELECT COUNT(*) FROM pipelines");
    if (!stmt.ok()) return stmt.status();
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    n = static_cast<int>((*stmt)->ColumnInt(0));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return n;
}

// The behaviour both stores share.
class StoreTest : public ::testing::TestWithParam<testing::StoreKind> {};

TEST_P(StoreTest, CreatesSchemaAndKeepsDataAcrossReopen) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  PipelineRepository repo;
  {
    auto db = store.Open();
    ASSERT_OK(db);
    EXPECT_EQ((*db)->schema_version(), LatestSchemaVersion());
    v1::Pipeline p = testing::MinimalPipeline("shop");
    p.set_uid("u1");
    p.set_etag("e1");
    ASSERT_OK((*db)->Write([&](Transaction& tx) { return repo.Insert(tx, p); }));
  }
  auto db = store.Open();
  ASSERT_OK(db);
  absl::StatusOr<v1::Pipeline> got;
  ASSERT_OK((*db)->Read([&](Transaction& tx) {
    got = repo.Get(tx, "shop");
    return got.status();
  }));
  EXPECT_EQ(got->uid(), "u1");
  EXPECT_EQ(got->stages_size(), 2);
}

TEST(DatabaseTest, TheDatabaseAndItsWalArePrivateWhateverTheUmask) {
  testing::TempDir dir;
  const mode_t old = ::umask(022);
  {
    auto db = Database::Open({.path = dir.File("private.db")});
    ASSERT_OK(db);
    ASSERT_OK((*db)->Write([](Transaction& tx) -> absl::Status {
      auto st = tx.Prepare("CREATE TABLE t (x INTEGER)");
      if (!st.ok()) return st.status();
      return (*st)->Run();
    }));
    struct stat st;
    ASSERT_EQ(::stat(dir.File("private.db").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(dir.File("private.db-wal").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  // A database an older Slipway left readable by others is narrowed when opened.
  ASSERT_EQ(::chmod(dir.File("private.db").c_str(), 0644), 0);
  {
    auto db = Database::Open({.path = dir.File("private.db")});
    ASSERT_OK(db);
    struct stat st;
    ASSERT_EQ(::stat(dir.File("private.db").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  ::umask(old);
}

TEST_P(StoreTest, RefusesADatabaseFromANewerVersion) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  {
    auto db = store.Open();
    ASSERT_OK(db);
    ASSERT_OK((*db)->Write([](Transaction& tx) -> absl::Status {
      auto stmt = tx.Prepare(GetParam() == testing::StoreKind::kSqlite
                                 ? "PRAGMA user_version = 99"
                                 : "UPDATE slipway_schema SET version = 99");
      if (!stmt.ok()) return stmt.status();
      return (*stmt)->Run();
    }));
  }
  EXPECT_THAT(store.Open(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                     HasSubstr("schema version 99, written by a newer Slipway")));
}

TEST_P(StoreTest, AFailingTransactionWritesNothing) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  auto db = store.Open();
  ASSERT_OK(db);
  PipelineRepository repo;
  v1::Pipeline p = testing::MinimalPipeline("shop");
  p.set_uid("u1");
  absl::Status s = (*db)->Write([&](Transaction& tx) -> absl::Status {
    absl::Status inserted = repo.Insert(tx, p);
    if (!inserted.ok()) return inserted;
    return absl::InternalError("fails after the insert");
  });
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInternal, HasSubstr("after the insert")));
  EXPECT_EQ(*CountPipelines(**db), 0);
}

TEST_P(StoreTest, ARiderCommitsWithTheFirstSuccessfulWriteOfItsThreadOnly) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  auto db = store.Open();
  ASSERT_OK(db);
  PipelineRepository repo;
  int appended = 0;
  WriteRider rider;
  rider.append = [&](Transaction& tx) -> absl::Status {
    ++appended;
    v1::Pipeline marker = testing::MinimalPipeline("rider");
    marker.set_uid("u-rider");
    return repo.Insert(tx, marker);
  };
  {
    ScopedWriteRider scope(&rider);
    // A write that fails carries it and undoes it with itself.
    EXPECT_THAT((*db)->Write([](Transaction&) { return absl::InternalError("no"); }),
                StatusIs(absl::StatusCode::kInternal, HasSubstr("no")));
    EXPECT_FALSE(rider.committed);
    EXPECT_EQ(*CountPipelines(**db), 0);
    // The next one commits it, in its own transaction.
    v1::Pipeline p = testing::MinimalPipeline("shop");
    p.set_uid("u1");
    ASSERT_OK((*db)->Write([&](Transaction& tx) { return repo.Insert(tx, p); }));
    EXPECT_TRUE(rider.committed);
    EXPECT_EQ(*CountPipelines(**db), 2);
    // Later writes carry nothing; nor does another thread's.
    v1::Pipeline q = testing::MinimalPipeline("shop2");
    q.set_uid("u2");
    ASSERT_OK((*db)->Write([&](Transaction& tx) { return repo.Insert(tx, q); }));
    EXPECT_EQ(appended, 1);
  }
  WriteRider other;
  other.append = [&](Transaction&) -> absl::Status {
    ++appended;
    return absl::OkStatus();
  };
  ScopedWriteRider scope(&other);
  std::thread t([&] { ASSERT_OK((*db)->Write([](Transaction&) { return absl::OkStatus(); })); });
  t.join();
  EXPECT_FALSE(other.committed);
  EXPECT_EQ(appended, 1);
}

class FaultInjectionTest : public ::testing::TestWithParam<bool> {};

TEST_P(FaultInjectionTest, FailedDiskWriteReturnsAnErrorAndLeavesTheDatabaseUnchanged) {
  const bool fail_sync = GetParam();
  testing::TempDir dir;
  FaultInjectingVfs vfs("faulty-" + std::to_string(fail_sync));
  PipelineRepository repo;
  {
    auto db = Database::Open({.path = dir.File("db"), .vfs = vfs.name()});
    ASSERT_OK(db);
    v1::Pipeline first = testing::MinimalPipeline("first");
    first.set_uid("u1");
    ASSERT_OK((*db)->Write([&](Transaction& tx) { return repo.Insert(tx, first); }));

    if (fail_sync) {
      vfs.FailSyncs(true);
    } else {
      vfs.FailWrites(true);
    }
    v1::Pipeline second = testing::MinimalPipeline("second");
    second.set_uid("u2");
    absl::Status s = (*db)->Write([&](Transaction& tx) { return repo.Insert(tx, second); });
    EXPECT_FALSE(s.ok());
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("storage")));
    EXPECT_GT(vfs.injected(), 0);
    vfs.FailWrites(false);
    vfs.FailSyncs(false);
  }
  // Reopened without faults: the first pipeline is there, the failed one is not.
  auto db = Database::Open({.path = dir.File("db")});
  ASSERT_OK(db);
  EXPECT_EQ(*CountPipelines(**db), 1);
  ASSERT_OK((*db)->Read([&](Transaction& tx) {
    EXPECT_OK(repo.Get(tx, "first"));
    EXPECT_THAT(repo.Get(tx, "second"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("second")));
    return absl::OkStatus();
  }));
}

INSTANTIATE_TEST_SUITE_P(WritesAndSyncs, FaultInjectionTest, ::testing::Values(false, true));

TEST_P(StoreTest, ReadsRunConcurrentlyWithWrites) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  auto db = store.Open();
  ASSERT_OK(db);
  PipelineRepository repo;
  std::atomic<bool> failed{false};
  std::thread writer([&] {
    for (int i = 0; i < 50; ++i) {
      v1::Pipeline p = testing::MinimalPipeline("p" + std::to_string(i));
      p.set_uid("u" + std::to_string(i));
      if (!(*db)->Write([&](Transaction& tx) { return repo.Insert(tx, p); }).ok()) failed = true;
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      int last = 0;
      for (int i = 0; i < 200; ++i) {
        auto n = CountPipelines(**db);
        if (!n.ok() || *n < last) failed = true;
        if (n.ok()) last = *n;
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_FALSE(failed);
  EXPECT_EQ(*CountPipelines(**db), 50);
}

TEST_P(StoreTest, ConcurrentWritesCommitTogetherAndAFailureUndoesOnlyItsOwnChanges) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  auto db = store.Open();
  ASSERT_OK(db);
  PipelineRepository repo;
  std::atomic<int> unexpected{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        v1::Pipeline p =
            testing::MinimalPipeline("p" + std::to_string(t) + "-" + std::to_string(i));
        p.set_uid(p.name());
        absl::Status s = (*db)->Write([&](Transaction& tx) -> absl::Status {
          absl::Status inserted = repo.Insert(tx, p);
          if (!inserted.ok()) return inserted;
          // Writer 0 changes its mind after writing: its rows must not survive.
          return t == 0 ? absl::AbortedError("changed my mind") : absl::OkStatus();
        });
        if ((t == 0) == s.ok()) ++unexpected;
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(unexpected, 0);
  EXPECT_EQ(*CountPipelines(**db), 7 * 50);
  ASSERT_OK((*db)->Read([&](Transaction& tx) {
    EXPECT_THAT(repo.Get(tx, "p0-0"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("p0-0")));
    EXPECT_OK(repo.Get(tx, "p7-49"));
    return absl::OkStatus();
  }));
}

// Statements sent without waiting (RunLater; pipelined on PostgreSQL): a failure comes back
// from the write that sent it, with the caller's message, undoes that write only, and is seen by
// the write's next statement that needs an answer.
TEST_P(StoreTest, AWriteSentWithoutWaitingReportsItsErrorFromItsOwnWrite) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  auto db = store.Open();
  ASSERT_OK(db);
  auto insert = [](Transaction& tx, int64_t id) -> absl::Status {
    auto stmt = tx.Prepare("INSERT INTO write_probe (id, time_ms) VALUES (?, 7)");
    if (!stmt.ok()) return stmt.status();
    (*stmt)->Bind(1, id);
    return (*stmt)->RunLater(absl::AlreadyExistsError(absl::StrCat("probe ", id, " is taken")));
  };
  auto count = [&]() {
    int64_t n = -1;
    EXPECT_OK((*db)->Read([&](Transaction& tx) -> absl::Status {
      auto stmt = tx.Prepare("SELECT COUNT(*) FROM write_probe WHERE time_ms = 7");
      if (!stmt.ok()) return stmt.status();
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      n = (*stmt)->ColumnInt(0);
      return absl::OkStatus();
    }));
    return n;
  };
  ASSERT_OK((*db)->Write([&](Transaction& tx) { return insert(tx, 1); }));
  // The duplicate is only found at the write's end: the write fails with the caller's message.
  EXPECT_THAT((*db)->Write([&](Transaction& tx) -> absl::Status {
    absl::Status sent = insert(tx, 1);
    if (!sent.ok()) return sent;  // SQLite answers at once
    return insert(tx, 2);
  }),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("probe 1 is taken")));
  EXPECT_EQ(count(), 1);  // probe 2 went with it
  // A statement that needs an answer sees the earlier failure first.
  EXPECT_THAT((*db)->Write([&](Transaction& tx) -> absl::Status {
    absl::Status sent = insert(tx, 1);
    if (!sent.ok()) return sent;
    auto stmt = tx.Prepare("SELECT COUNT(*) FROM write_probe");
    if (!stmt.ok()) return stmt.status();
    return (*stmt)->Step().status();
  }),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("probe 1 is taken")));
  // Many writers at once, in shared batches: only the failing writes are undone.
  std::atomic<int> unexpected{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const int64_t id = 100 + t * 1000 + i;
        absl::Status s = (*db)->Write([&](Transaction& tx) -> absl::Status {
          absl::Status first = insert(tx, id);
          if (!first.ok()) return first;
          // Writer 0 also writes the taken probe 1: its whole write must go.
          return t == 0 ? insert(tx, 1) : absl::OkStatus();
        });
        if ((t == 0) == s.ok()) ++unexpected;
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(unexpected, 0);
  EXPECT_EQ(count(), 1 + 7 * 40);
  // Changes() waits for what was sent.
  ASSERT_OK((*db)->Write([&](Transaction& tx) -> absl::Status {
    auto stmt = tx.Prepare("UPDATE write_probe SET time_ms = 8 WHERE time_ms = 7 AND id >= 1000");
    if (!stmt.ok()) return stmt.status();
    if (absl::Status s = (*stmt)->RunLater(); !s.ok()) return s;
    EXPECT_EQ(tx.Changes(), 7 * 40);
    return absl::OkStatus();
  }));
}

// Runs `n` repeatable writes as one batch: a first write holds the committer until all of them
// are queued behind it. Returns their results, in order.
std::vector<absl::Status> OneBatchOf(Database& db, int n,
                                     const std::function<absl::Status(Transaction&, int)>& fn) {
  std::atomic<bool> holding{false};
  std::thread holder([&] {
    EXPECT_OK(db.Write([&](Transaction&) {
      holding = true;
      while (db.queued_writes() < static_cast<size_t>(n)) std::this_thread::yield();
      return absl::OkStatus();
    }));
  });
  while (!holding) std::this_thread::yield();
  std::vector<absl::Status> results(n);
  std::vector<std::thread> writers;
  for (int i = 0; i < n; ++i) {
    writers.emplace_back([&, i] {
      results[i] = db.Write([&](Transaction& tx) { return fn(tx, i); },
                            Database::WriteOptions{.repeatable = true});
    });
  }
  for (auto& w : writers) w.join();
  holder.join();
  return results;
}

// Repeatable writes of one batch (on PostgreSQL sent together and answered in one round trip):
// one that fails is undone alone and the others commit; what each leaves for after its commit
// runs once, for those that committed; what each reads after its answers comes back.
TEST_P(StoreTest, RepeatableWritesOfOneBatchShareARoundTripAndAFailureUndoesOnlyItsOwn) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  auto db = store.Open();
  ASSERT_OK(db);
  constexpr int kWriters = 6;
  std::vector<std::atomic<int>> attempts(kWriters);
  std::vector<std::atomic<int>> committed(kWriters);
  std::vector<int64_t> seen(kWriters, 0);
  auto write = [&](Transaction& tx, int i, int64_t id) -> absl::Status {
    ++attempts[i];
    auto stmt = tx.Prepare("INSERT INTO write_probe (id, time_ms) VALUES (?, 9) RETURNING id");
    if (!stmt.ok()) return stmt.status();
    (*stmt)->Bind(1, id);
    std::shared_ptr<Statement> inserted = *std::move(stmt);
    if (absl::Status s = inserted->Prefetch(); !s.ok()) return s;
    if (absl::Status s = tx.AfterAnswers([&, i, inserted]() -> absl::Status {
          auto row = inserted->Step();
          if (!row.ok()) return row.status();
          seen[i] = inserted->ColumnInt(0);
          return absl::OkStatus();
        });
        !s.ok()) {
      return s;
    }
    tx.AfterCommit([&, i] { ++committed[i]; });
    return absl::OkStatus();
  };
  const uint64_t trips_before = PostgresRoundTrips();
  for (const absl::Status& s :
       OneBatchOf(**db, kWriters, [&](Transaction&tx, int i) { return write(tx, i, 10 + i); })) {
    EXPECT_OK(s);
  }
  if (GetParam() == testing::StoreKind::kPostgres) {
    // The holder's batch (its start and commit), then one round trip for all six writes and
    // the commit; one each would be seven.
    EXPECT_LE(PostgresRoundTrips() - trips_before, 4u);
  }
  for (int i = 0; i < kWriters; ++i) {
    EXPECT_EQ(seen[i], 10 + i);
    EXPECT_EQ(attempts[i], 1);
    EXPECT_EQ(committed[i], 1);
  }

  // Writer 3 takes an id that is taken: only it fails.
  for (int i = 0; i < kWriters; ++i) attempts[i] = committed[i] = 0;
  std::vector<absl::Status> results = OneBatchOf(
      **db, kWriters, [&](Transaction& tx, int i) { return write(tx, i, i == 3 ? 10 : 20 + i); });
  for (int i = 0; i < kWriters; ++i) {
    if (i == 3) {
      EXPECT_THAT(results[i], StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("write_probe")));
      EXPECT_EQ(committed[i], 0);
    } else {
      EXPECT_OK(results[i]);
      EXPECT_EQ(seen[i], 20 + i);
      EXPECT_EQ(committed[i], 1);  // once, however often its write ran
    }
    // On PostgreSQL each ran twice: together, then alone once the batch was found to fail.
    EXPECT_EQ(attempts[i], GetParam() == testing::StoreKind::kPostgres ? 2 : 1);
  }
  ASSERT_OK((*db)->Read([&](Transaction& tx) -> absl::Status {
    auto stmt = tx.Prepare("SELECT COUNT(*) FROM write_probe WHERE time_ms = 9");
    if (!stmt.ok()) return stmt.status();
    EXPECT_THAT((*stmt)->Step(), IsOkAndHolds(true));
    EXPECT_EQ((*stmt)->ColumnInt(0), 2 * kWriters - 1);
    return absl::OkStatus();
  }));
}

TEST(DatabaseTest, OpeningAnUnwritablePathFails) {
  EXPECT_THAT(Database::Open({.path = "/nonexistent-dir/x/db"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("open")));
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::ValuesIn(testing::kBothStores),
                         testing::StoreKindName);

}  // namespace
}  // namespace slipway::storage
