// What only the PostgreSQL store does: the SQL translation, connection strings that never show
// a password, a server that is unreachable or restarts under load, several Slipway processes
// writing to one database, and PgBouncer in transaction-pooling mode.
#include "storage/postgres.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/database.h"
#include "storage/run_repository.h"
#include "storage/store_url.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::IsOk;
using ::slipway::testing::IsOkAndHolds;
using ::slipway::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(PostgresSqlTest, ParametersBecomeNumberedAndQuotedTextIsLeftAlone) {
  int n = 0;
  EXPECT_EQ(TranslateParameters("SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?", &n),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(TranslateParameters("WHERE (?1 = 0 OR seq < ?1) AND x = ?3 AND y = ?2", &n),
            "WHERE ($1 = 0 OR seq < $1) AND x = $3 AND y = $2");
  EXPECT_EQ(n, 3);
  EXPECT_EQ(TranslateParameters("SELECT \"?\" FROM t", &n), "SELECT \"?\" FROM t");
  EXPECT_EQ(n, 0);
}

TEST(PostgresSqlTest, ConnectionStringsShowNoPassword) {
  EXPECT_EQ(MaskConnectionString("postgres://slipway:s3cret@db.example.com:5432/slipway"),
            "postgres://slipway:***@db.example.com:5432/slipway");
  EXPECT_EQ(MaskConnectionString("postgresql://u:p%40ss@h/d?sslmode=require&password=x2"),
            "postgresql://u:***@h/d?sslmode=require&password=***");
  EXPECT_EQ(MaskConnectionString("host=db user=slipway password=s3cret dbname=slipway"),
            "host=db user=slipway password=*** dbname=slipway");
  EXPECT_EQ(MaskConnectionString("host=db password = 'a b\\'c' dbname=x"),
            "host=db password = *** dbname=x");
  EXPECT_EQ(MaskConnectionString("postgres://slipway@db/slipway"), "postgres://slipway@db/slipway");
}

TEST(PostgresSqlTest, ThePoolerParameterIsSlipwaysAndLibpqDoesNotSeeIt) {
  bool pooled = true;
  EXPECT_THAT(WithoutPooler("postgres://u@h/d", &pooled), IsOkAndHolds("postgres://u@h/d"));
  EXPECT_FALSE(pooled);
  EXPECT_THAT(WithoutPooler("postgres://u@h/d?pooler=transaction", &pooled),
              IsOkAndHolds("postgres://u@h/d"));
  EXPECT_TRUE(pooled);
  EXPECT_THAT(
      WithoutPooler("postgresql://u@h/d?sslmode=require&pooler=transaction&application_name=x",
                    &pooled),
      IsOkAndHolds("postgresql://u@h/d?sslmode=require&application_name=x"));
  EXPECT_TRUE(pooled);
  EXPECT_THAT(WithoutPooler("host=h pooler=transaction dbname=d", &pooled),
              IsOkAndHolds("host=h dbname=d"));
  EXPECT_TRUE(pooled);
  EXPECT_THAT(WithoutPooler("postgres://u@h/d?pooler=session", &pooled),
              IsOkAndHolds("postgres://u@h/d"));
  EXPECT_FALSE(pooled);
  EXPECT_THAT(WithoutPooler("postgres://u@h/d?pooler=statement", &pooled),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pooler=statement")));
  // --store refuses it, and opening a store with it fails before any connection is made.
  EXPECT_THAT(
      StoreOptions("postgres://u@h/d?pooler=yes", "/unused"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--store: store URL: pooler=yes")));
  EXPECT_THAT(StoreOptions("postgres://u@h/d?pooler=transaction", "/unused"), IsOk());
  EXPECT_THAT(Database::Open({.postgres = "postgres://u@127.0.0.1:1/d?pooler=yes"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pooler=yes")));
}

TEST(PostgresStoreTest, AnUnreachableServerIsUnavailableAndItsPasswordIsNotShown) {
  // A port nothing listens on.
  auto db = Database::Open({.postgres = "postgres://slipway:hunter2@127.0.0.1:1/slipway"});
  EXPECT_THAT(db, StatusIs(absl::StatusCode::kUnavailable,
                           AllOf(HasSubstr("postgres://slipway:***@127.0.0.1:1/slipway"),
                                 Not(HasSubstr("hunter2")))));
}

v1::Run MakeRun(const std::string& id) {
  v1::Run r;
  r.set_id(id);
  r.set_pipeline("shop");
  r.set_stage("dev");
  r.set_state(v1::RUN_STATE_QUEUED);
  return r;
}

// Several writers in several Database objects (as several slipwayd replicas) on one database:
// every write lands once, and the run sequence numbers the store hands out never collide.
void WritersShareOneStore(const DatabaseOptions& options) {
  constexpr int kReplicas = 3;
  constexpr int kRunsEach = 40;
  std::vector<std::unique_ptr<Database>> replicas;
  for (int i = 0; i < kReplicas; ++i) {
    auto db = Database::Open(options);
    ASSERT_OK(db);
    replicas.push_back(*std::move(db));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < kReplicas; ++r) {
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, r, t] {
        for (int i = 0; i < kRunsEach / 2; ++i) {
          const std::string id = absl::StrCat("run-", r, "-", t, "-", i);
          absl::Status s = replicas[r]->Write(
              [&](Transaction& tx) { return RunRepository().Insert(tx, MakeRun(id)).status(); });
          if (!s.ok()) {
            ADD_FAILURE() << s;
            ++failures;
          }
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  std::set<int64_t> seqs;
  ASSERT_OK(replicas[0]->Read([&](Transaction& tx) -> absl::Status {
    auto runs = RunRepository().List(tx, {.limit = 1000});
    if (!runs.ok()) return runs.status();
    EXPECT_EQ(runs->size(), static_cast<size_t>(kReplicas * kRunsEach));
    for (const auto& run : *runs) {
      auto seq = RunRepository().SequenceOf(tx, run.id());
      if (!seq.ok()) return seq.status();
      seqs.insert(*seq);
    }
    return absl::OkStatus();
  }));
  EXPECT_EQ(seqs.size(), static_cast<size_t>(kReplicas * kRunsEach));
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), kReplicas * kRunsEach);
}

TEST(PostgresStoreTest, SeveralProcessesWriteToOneStoreWithoutCollisions) {
  testing::TempDir dir;
  testing::TestStore store(testing::StoreKind::kPostgres, dir.path());
  WritersShareOneStore(store.Options());
}

// Index entries and table rows this transaction has read from `table` so far (PostgreSQL's
// per-transaction statistics: entries returned by its indexes, rows returned by scans of it).
absl::StatusOr<int64_t> RowsRead(Transaction& tx, const std::string& table) {
  const std::string sql = absl::StrCat(
      "SELECT COALESCE(SUM(pg_stat_get_xact_tuples_returned(indexrelid)), 0)::BIGINT + "
      "pg_stat_get_xact_tuples_returned('",
      table, "'::regclass) FROM pg_index WHERE indrelid = '", table, "'::regclass");
  // Statement texts must outlive the statement cache.
  static auto* texts = new std::map<std::string, std::string>;
  const std::string& text = texts->try_emplace(table, sql).first->second;
  auto stmt = tx.Prepare(text.c_str());
  if (!stmt.ok()) return stmt.status();
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  return (*stmt)->ColumnInt(0);
}

// The next release number and the active runs (what every release and every pick-up round
// reads) cost a few index entries however long the history is, also on tables PostgreSQL has
// not analyzed yet. A MAX(number) over the stage read all of its releases there (about 0.8 ms
// of a write transaction per release at 4,500 releases in ha_bench), and the active runs came
// from a walk of every run in start order.
TEST(PostgresStoreTest, TheNextReleaseNumberAndTheActiveRunsReadFewRowsHoweverLongTheHistory) {
  testing::TempDir dir;
  testing::TestStore store(testing::StoreKind::kPostgres, dir.path());
  auto db = Database::Open(store.Options());
  ASSERT_OK(db);
  constexpr int kHistory = 1500;
  ASSERT_OK((*db)->Write([&](Transaction& tx) -> absl::Status {
    for (int i = 0; i < kHistory; ++i) {
      v1::Run run = MakeRun(absl::StrCat("old-", i));
      run.set_state(v1::RUN_STATE_SUCCEEDED);
      if (auto s = RunRepository().Insert(tx, run).status(); !s.ok()) return s;
      v1::Release release;
      release.set_pipeline("shop");
      release.set_stage("dev");
      release.set_run_id(run.id());
      if (auto s = ReleaseRepository().Insert(tx, release).status(); !s.ok()) return s;
    }
    for (const char* id : {"active-1", "active-2"}) {
      if (auto s = RunRepository().Insert(tx, MakeRun(id)).status(); !s.ok()) return s;
    }
    return absl::OkStatus();
  }));
  ASSERT_OK((*db)->Write([&](Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t before, RowsRead(tx, "releases"));
    v1::Release release;
    release.set_pipeline("shop");
    release.set_stage("dev");
    release.set_run_id("active-1");
    ASSIGN_OR_RETURN(int64_t number, ReleaseRepository().Insert(tx, release));
    EXPECT_EQ(number, kHistory + 1);
    ASSIGN_OR_RETURN(int64_t after, RowsRead(tx, "releases"));
    EXPECT_LE(after - before, 2) << "index entries read for the next release number";
    return absl::OkStatus();
  }));
  for (const std::string pipeline : {"", "shop"}) {
    ASSERT_OK((*db)->Read([&](Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(int64_t before, RowsRead(tx, "runs"));
      ASSIGN_OR_RETURN(auto active, RunRepository().ListActive(tx, pipeline, "dev"));
      ASSIGN_OR_RETURN(int64_t after, RowsRead(tx, "runs"));
      EXPECT_EQ(active.size(), 2u);
      EXPECT_LE(after - before, 4) << "rows read for the active runs, filter '" << pipeline << "'";
      return absl::OkStatus();
    }));
  }
}

// Reads sent ahead (Statement::Prefetch) come back in the round trip of the next statement
// that waits, with their own rows; one that fails reports its own error. What the webhook intake
// (the delivery lookup beside the bound pipelines) and the release record (the next number beside
// the stage's resources) save a round trip with.
TEST(PostgresStoreTest, ReadsSentAheadShareTheNextRoundTrip) {
  testing::TempDir dir;
  testing::TestStore store(testing::StoreKind::kPostgres, dir.path());
  auto db = Database::Open(store.Options());
  ASSERT_OK(db);
  ASSERT_OK((*db)->Write([&](Transaction& tx) -> absl::Status {
    for (const char* id : {"run-a", "run-b", "run-c"}) {
      RETURN_IF_ERROR(RunRepository().Insert(tx, MakeRun(id)).status());
    }
    return absl::OkStatus();
  }));
  auto count_and_one = [&](bool prefetch, uint64_t* trips) {
    return (*db)->Read([&](Transaction& tx) -> absl::Status {
      const uint64_t before = PostgresRoundTrips();
      ASSIGN_OR_RETURN(auto count, tx.Prepare("SELECT COUNT(*) FROM runs"));
      if (prefetch) RETURN_IF_ERROR(count->Prefetch());
      ASSIGN_OR_RETURN(auto one, tx.Prepare("SELECT id FROM runs WHERE id = ?"));
      one->Bind(1, "run-b");
      EXPECT_THAT(one->Step(), IsOkAndHolds(true));
      EXPECT_EQ(one->ColumnText(0), "run-b");
      EXPECT_THAT(count->Step(), IsOkAndHolds(true));
      EXPECT_EQ(count->ColumnInt(0), 3);
      EXPECT_THAT(count->Step(), IsOkAndHolds(false));
      *trips = PostgresRoundTrips() - before;
      return absl::OkStatus();
    });
  };
  uint64_t apart = 0, together = 0;
  ASSERT_OK(count_and_one(false, &apart));
  ASSERT_OK(count_and_one(true, &together));
  EXPECT_EQ(apart, 2u);
  EXPECT_EQ(together, 1u);

  // Sent ahead and stepped before anything else waited: its own round trip, the same rows.
  ASSERT_OK((*db)->Read([&](Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto count, tx.Prepare("SELECT COUNT(*) FROM runs"));
    RETURN_IF_ERROR(count->Prefetch());
    EXPECT_THAT(count->Step(), IsOkAndHolds(true));
    EXPECT_EQ(count->ColumnInt(0), 3);
    return absl::OkStatus();
  }));

  // A read sent ahead that fails: its Step gives its error, and so does the read that waited.
  absl::Status read = (*db)->Read([&](Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto bad, tx.Prepare("SELECT 10 / ? FROM runs"));
    bad->Bind(1, int64_t{0});
    RETURN_IF_ERROR(bad->Prefetch());
    ASSIGN_OR_RETURN(auto one, tx.Prepare("SELECT id FROM runs WHERE id = ?"));
    one->Bind(1, "run-b");
    EXPECT_THAT(one->Step(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("division")));
    return bad->Step().status();
  });
  EXPECT_THAT(read, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("division")));

  // In a write: every stage's next release number and resources in one round trip, however
  // many releases and stages.
  ASSERT_OK((*db)->Write([&](Transaction& tx) -> absl::Status {
    v1::ResourceState web;
    web.set_name("web");
    RETURN_IF_ERROR(StageResourceRepository().Put(tx, "shop", "dev", web));
    v1::ResourceState api;
    api.set_name("api");
    RETURN_IF_ERROR(StageResourceRepository().Put(tx, "shop", "prod", api));
    RETURN_IF_ERROR(StageResourceRepository().Put(tx, "shop", "prod", web));
    v1::Release release;
    release.set_pipeline("shop");
    release.set_stage("dev");
    release.set_run_id("run-a");
    RETURN_IF_ERROR(ReleaseRepository().Insert(tx, release).status());
    std::vector<v1::Release> releases;
    for (const auto& [stage, run] : std::vector<std::pair<std::string, std::string>>{
             {"dev", "run-b"}, {"prod", "run-c"}, {"dev", "run-d"}, {"qa", "run-e"}}) {
      release.set_stage(stage);
      release.set_run_id(run);
      releases.push_back(release);
    }
    const uint64_t before = PostgresRoundTrips();
    ASSIGN_OR_RETURN(std::vector<int64_t> numbers,
                     ReleaseRepository().InsertWithResources(tx, releases));
    EXPECT_EQ(PostgresRoundTrips() - before, 1u);
    EXPECT_THAT(numbers, ElementsAre(2, 1, 3, 1));
    ASSIGN_OR_RETURN(v1::Release dev, ReleaseRepository().Get(tx, "shop", "dev", 3));
    EXPECT_EQ(dev.run_id(), "run-d");
    EXPECT_EQ(dev.resources_size(), 1);
    ASSIGN_OR_RETURN(v1::Release prod, ReleaseRepository().Get(tx, "shop", "prod", 1));
    EXPECT_EQ(prod.resources_size(), 2);
    EXPECT_EQ(prod.resources(0).name(), "api");  // in name order
    ASSIGN_OR_RETURN(v1::Release qa, ReleaseRepository().Get(tx, "shop", "qa", 1));
    EXPECT_EQ(qa.resources_size(), 0);
    return absl::OkStatus();
  }));
}

// A database of its own for a test that connects through PgBouncer (which passes no session
// options, so no schema of its own).
class OwnDatabase {
 public:
  OwnDatabase() {
    name_ = absl::StrCat("t_bouncer_", ::getpid(), "_", std::rand());
    EXPECT_OK(Admin(absl::StrCat("CREATE DATABASE ", name_, " OWNER slipway")));
  }
  ~OwnDatabase() { Admin(absl::StrCat("DROP DATABASE ", name_, " WITH (FORCE)")).IgnoreError(); }
  const std::string& name() const { return name_; }

 private:
  static absl::Status Admin(const std::string& sql) {
    PGconn* conn = PQconnectdb(testing::TestPostgres("PG_ADMIN_URL").c_str());
    PGresult* res = PQexec(conn, sql.c_str());
    absl::Status s = PQresultStatus(res) == PGRES_COMMAND_OK
                         ? absl::OkStatus()
                         : absl::InternalError(PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(conn);
    return s;
  }
  std::string name_;
};

TEST(PostgresStoreTest, WorksThroughPgBouncerInTransactionPoolingMode) {
  OwnDatabase own;
  const std::string port = testing::TestPostgres("BOUNCER_PORT");
  ASSERT_FALSE(port.empty());
  const std::string url =
      absl::StrCat("postgres://slipway@127.0.0.1:", port, "/", own.name(), "?pooler=transaction");
  WritersShareOneStore({.postgres = url});
  // Reopened through the pooler: migrated already, data there.
  auto db = Database::Open({.postgres = url});
  ASSERT_OK(db);
  EXPECT_EQ((*db)->schema_version(), LatestSchemaVersion());
  ASSERT_OK((*db)->Read([&](Transaction& tx) -> absl::Status {
    auto runs = RunRepository().List(tx, {.limit = 1000});
    if (!runs.ok()) return runs.status();
    EXPECT_EQ(runs->size(), 120u);
    return absl::OkStatus();
  }));
}

// Through PgBouncer in transaction mode with a URL that does not say so, statements prepared on
// one session are missing on the next one the pooler hands out (or doubled). Such a failure is
// UNAVAILABLE and names the cure; the store stops preparing after it, so a retry succeeds, and
// nothing runs as another statement: every run is stored once.
TEST(PostgresStoreTest, APoolerTheUrlDoesNotNameCostsAtMostAFewRetries) {
  OwnDatabase own;
  const std::string port = testing::TestPostgres("BOUNCER_PORT");
  ASSERT_FALSE(port.empty());
  const std::string url = absl::StrCat("postgres://slipway@127.0.0.1:", port, "/", own.name());
  auto db = Database::Open({.postgres = url, .max_readers = 4});
  ASSERT_OK(db);
  constexpr int kThreads = 4;
  constexpr int kRunsEach = 30;
  std::atomic<int> retries{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRunsEach; ++i) {
        const std::string id = absl::StrCat("run-", t, "-", i);
        for (int attempt = 0;; ++attempt) {
          absl::Status s = (*db)->Write(
              [&](Transaction& tx) { return RunRepository().Insert(tx, MakeRun(id)).status(); });
          if (s.ok()) break;
          EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("pooler=transaction")));
          ++retries;
          ASSERT_LT(attempt, 3) << s;
        }
        absl::Status read = (*db)->Read([&](Transaction& tx) -> absl::Status {
          auto run = RunRepository().Get(tx, id);
          return run.status();
        });
        if (!read.ok()) {
          EXPECT_THAT(read,
                      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("pooler=transaction")));
          ++retries;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  // Each connection can fail once before the store stops preparing: the writer and the readers.
  EXPECT_LE(retries.load(), 1 + 4 + kThreads);
  ASSERT_OK((*db)->Read([&](Transaction& tx) -> absl::Status {
    auto runs = RunRepository().List(tx, {.limit = 1000});
    if (!runs.ok()) return runs.status();
    EXPECT_EQ(runs->size(), static_cast<size_t>(kThreads * kRunsEach));
    return absl::OkStatus();
  }));
}

// A server of this test's own, stopped and started again while writes go on.
TEST(PostgresStoreTest, AServerThatStopsGivesUnavailableAndTheStoreRecoversWhenItIsBack) {
  testing::TempDir dir;
  const std::string state = dir.File("pg.env");
  const std::string script = absl::StrCat(SLIPWAY_SOURCE_DIR, "/tests/postgres/cluster.sh");
  ASSERT_EQ(std::system(absl::StrCat(script, " start ", state).c_str()), 0);
  auto read_key = [&](const std::string& key) {
    std::ifstream in(state);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
    }
    return std::string();
  };
  const std::string url = read_key("PG_URL");
  const std::string pid = read_key("PG_PID");
  const std::string data = read_key("PG_DIR") + "/data";
  const std::string bin = read_key("PG_BIN");
  auto db = Database::Open({.postgres = url});
  ASSERT_OK(db);
  auto insert = [&](const std::string& id) {
    return (*db)->Write(
        [&](Transaction& tx) { return RunRepository().Insert(tx, MakeRun(id)).status(); });
  };
  ASSERT_OK(insert("before"));
  // Fast shutdown: the server closes every connection.
  ASSERT_EQ(std::system(absl::StrCat("kill -INT ", pid).c_str()), 0);
  for (int i = 0;
       i < 100 && std::system(absl::StrCat("kill -0 ", pid, " 2>/dev/null").c_str()) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(insert("while-down"), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("storage")));
  EXPECT_THAT((*db)->CheckWritable(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("storage")));
  EXPECT_THAT(
      (*db)->Read([](Transaction& tx) { return RunRepository().Get(tx, "before").status(); }),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("storage")));
  // Back on the same port and data directory.
  const std::string as = ::getuid() == 0 ? "runuser -u postgres -- " : "";
  ASSERT_EQ(std::system(absl::StrCat(as, bin, "/pg_ctl -D ", data, " -l ", data,
                                     "/../restart.log -w -s start")
                            .c_str()),
            0);
  ASSERT_OK(insert("after"));
  ASSERT_OK((*db)->CheckWritable());
  ASSERT_OK((*db)->Read([&](Transaction& tx) -> absl::Status {
    EXPECT_OK(RunRepository().Get(tx, "before").status());
    EXPECT_OK(RunRepository().Get(tx, "after").status());
    EXPECT_THAT(RunRepository().Get(tx, "while-down").status(),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("while-down")));
    return absl::OkStatus();
  }));
  db->reset();
  // The restarted server has a new pid: stop it through pg_ctl before the state file's cleanup.
  std::system(absl::StrCat(as, bin, "/pg_ctl -D ", data, " -w -s -m fast stop").c_str());
  std::system(absl::StrCat(script, " stop ", state).c_str());
}

}  // namespace
}  // namespace slipway::storage
