#include "tests/testing/test_store.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace slipway::testing {
namespace {

std::string StateFile() {
  static std::once_flag once;
  static std::string file;
  std::call_once(once, [] {
    if (const char* env = std::getenv("SLIPWAY_TEST_POSTGRES_ENV"); env != nullptr && *env) {
      file = env;
      return;
    }
    // Started here for a binary run by hand; stopped at exit.
    file = absl::StrFormat("/tmp/slipway-test-postgres-%d.env", ::getpid());
    std::string start =
        absl::StrCat(SLIPWAY_SOURCE_DIR, "/tests/postgres/cluster.sh start ", file, " --pgbouncer");
    if (std::system(start.c_str()) != 0) {
      std::fprintf(stderr, "test_store: could not start PostgreSQL (%s)\n", start.c_str());
    }
    std::atexit([] {
      std::string stop = absl::StrCat(SLIPWAY_SOURCE_DIR, "/tests/postgres/cluster.sh stop ", file);
      (void)std::system(stop.c_str());
    });
  });
  return file;
}

absl::Status Run(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    absl::Status s = absl::UnavailableError(PQerrorMessage(conn));
    PQfinish(conn);
    return s;
  }
  PGresult* res = PQexec(conn, sql.c_str());
  ExecStatusType st = PQresultStatus(res);
  absl::Status s = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK
                       ? absl::OkStatus()
                       : absl::InternalError(PQresultErrorMessage(res));
  PQclear(res);
  PQfinish(conn);
  return s;
}

}  // namespace

std::string StoreKindName(const ::testing::TestParamInfo<StoreKind>& info) {
  return info.param == StoreKind::kSqlite ? "Sqlite" : "Postgres";
}

std::string TestPostgres(const std::string& key) {
  std::ifstream in(StateFile());
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos && line.substr(0, eq) == key) return line.substr(eq + 1);
  }
  ADD_FAILURE() << "no " << key << " in " << StateFile()
                << ": the test PostgreSQL is not running (tests/postgres/cluster.sh)";
  return "";
}

TestStore::TestStore(StoreKind kind, std::string dir) : kind_(kind), dir_(std::move(dir)) {
  if (kind_ != StoreKind::kPostgres) return;
  std::random_device rd;
  schema_ = absl::StrFormat("t_%08x%08x", rd(), rd());
  const std::string port = TestPostgres("PG_PORT");
  conninfo_ = absl::StrCat("host=127.0.0.1 port=", port,
                           " user=slipway dbname=slipway options='-c search_path=", schema_, "'");
  absl::Status s = Run(absl::StrCat("host=127.0.0.1 port=", port, " user=slipway dbname=slipway"),
                       absl::StrCat("CREATE SCHEMA ", schema_));
  EXPECT_TRUE(s.ok()) << s;
}

TestStore::~TestStore() {
  if (kind_ != StoreKind::kPostgres) return;
  Run(conninfo_,
      absl::StrCat("SET client_min_messages TO warning; DROP SCHEMA ", schema_, " CASCADE"))
      .IgnoreError();
}

storage::DatabaseOptions TestStore::Options(storage::DatabaseOptions options) const {
  if (kind_ == StoreKind::kSqlite) {
    if (options.path.empty()) options.path = dir_ + "/slipway.db";
  } else {
    options.postgres = conninfo_;
  }
  return options;
}

absl::StatusOr<std::unique_ptr<storage::Database>> TestStore::Open(
    storage::DatabaseOptions options) {
  return storage::Database::Open(Options(std::move(options)));
}

absl::Status TestStore::Sql(const std::string& sql) const {
  if (kind_ != StoreKind::kPostgres) {
    return absl::UnimplementedError("TestStore::Sql is for PostgreSQL stores");
  }
  return Run(conninfo_, sql);
}

}  // namespace slipway::testing
