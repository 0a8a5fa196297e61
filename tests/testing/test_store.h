// The store a storage test runs on, so that one suite checks both backends: a SQLite file, or a
// schema of its own on the test PostgreSQL server.
//
// The server is the one tests/postgres/cluster.sh started for CTest (its state file named by
// SLIPWAY_TEST_POSTGRES_ENV). A test binary run by hand without it starts one for itself, once,
// and stops it when the process exits.
#ifndef SLIPWAY_TESTS_TESTING_TEST_STORE_H_
#define SLIPWAY_TESTS_TESTING_TEST_STORE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/database.h"

namespace slipway::testing {

enum class StoreKind { kSqlite, kPostgres };

// "Sqlite" / "Postgres", for INSTANTIATE_TEST_SUITE_P.
std::string StoreKindName(const ::testing::TestParamInfo<StoreKind>& info);

// Both, for ::testing::ValuesIn.
inline constexpr StoreKind kBothStores[] = {StoreKind::kSqlite, StoreKind::kPostgres};

// Keys of the test server's state file (PG_URL, PG_PORT, PG_ADMIN_URL …).
std::string TestPostgres(const std::string& key);

class TestStore {
 public:
  // `dir` holds the SQLite file.
  TestStore(StoreKind kind, std::string dir);
  ~TestStore();  // drops the PostgreSQL schema
  TestStore(const TestStore&) = delete;
  TestStore& operator=(const TestStore&) = delete;

  // Opens the store (the same data on every call). `options` may set secrets and limits; the
  // path or connection string is this store's.
  absl::StatusOr<std::unique_ptr<storage::Database>> Open(storage::DatabaseOptions options = {});
  // The options Open uses.
  storage::DatabaseOptions Options(storage::DatabaseOptions options = {}) const;
  // Runs SQL on this store's schema outside Slipway (to damage a row, to rewind a version).
  absl::Status Sql(const std::string& sql) const;
  StoreKind kind() const { return kind_; }

 private:
  StoreKind kind_;
  std::string dir_;
  std::string schema_;
  std::string conninfo_;
};

}  // namespace slipway::testing

#endif  // SLIPWAY_TESTS_TESTING_TEST_STORE_H_
