#include "storage/sqlite_connection.h"

#include <sqlite3.h>

#include <string>

#include "absl/container/node_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/connection.h"

namespace slipway::storage {

absl::Status SqliteStatus(int rc, sqlite3* db, std::string_view what) {
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string msg = absl::StrCat("storage: ", std::string(what), ": ", detail);
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return absl::OkStatus();
    case SQLITE_CONSTRAINT:
      return absl::AlreadyExistsError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
      return absl::UnavailableError(msg);
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(msg);
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return absl::FailedPreconditionError(msg);
    default:
      return absl::InternalError(msg);
  }
}

namespace {

// One SQLite connection and its statement cache. Used by one thread at a time.
class SqliteConnectionImpl : public SqliteConnection {
 public:
  explicit SqliteConnectionImpl(sqlite3* db) : db_(db) {}
  ~SqliteConnectionImpl() override {
    for (auto& [sql, cached] : cache_) sqlite3_finalize(cached.stmt);
    sqlite3_close_v2(db_);
  }
  sqlite3* db() override { return db_; }

  absl::Status Exec(const char* sql) override {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      absl::Status s = SqliteStatus(rc, db_, sql);
      sqlite3_free(err);
      return s;
    }
    return absl::OkStatus();
  }

  // Prepared once per connection instead of parsed at every call.
  absl::Status Control(const char* sql) override {
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Cached(sql));
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqliteStatus(rc, db_, sql);
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Statement>> Prepare(const char* sql) override;

  int64_t Changes() override { return sqlite3_changes64(db_); }
  absl::Status BeginWrite() override { return Control("BEGIN IMMEDIATE"); }
  absl::Status BeginRead() override { return Control("BEGIN"); }
  bool InTransaction() const override { return sqlite3_get_autocommit(db_) == 0; }

  absl::StatusOr<sqlite3_stmt*> Cached(const char* sql) {
    ASSIGN_OR_RETURN(CachedStatement * cached, Entry(sql));
    return cached->stmt;
  }

 private:
  // A statement prepared once per connection. `busy` while a Statement uses it: another
  // Statement of the same text alive at the same time (reads sent ahead, a read inside another's
  // loop) gets a statement of its own.
  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool busy = false;
  };
  absl::StatusOr<CachedStatement*> Entry(const char* sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return &it->second;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteStatus(rc, db_, "prepare");
    return &cache_.emplace(sql, CachedStatement{stmt, false}).first->second;
  }

  sqlite3* db_;
  absl::node_hash_map<const char*, CachedStatement> cache_;  // node: entries keep their address
};

class SqliteStatement : public Statement {
 public:
  // `busy`: the cache's flag for `stmt`, cleared when this statement is done with it; null for a
  // statement of its own, finalized then.
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt, bool* busy)
      : db_(db), stmt_(stmt), busy_(busy) {}
  ~SqliteStatement() override {
    if (busy_ == nullptr) {
      sqlite3_finalize(stmt_);
      return;
    }
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *busy_ = false;
  }

  Statement& Bind(int index, std::string_view text) override {
    return Check(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                                   SQLITE_TRANSIENT));
  }
  Statement& BindBlob(int index, std::string_view bytes) override {
    return Check(sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()),
                                   SQLITE_TRANSIENT));
  }
  Statement& Bind(int index, int64_t value) override {
    return Check(sqlite3_bind_int64(stmt_, index, value));
  }
  Statement& BindNull(int index) override { return Check(sqlite3_bind_null(stmt_, index)); }

  absl::StatusOr<bool> Step() override {
    RETURN_IF_ERROR(bind_status_);
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(rc, db_, sqlite3_sql(stmt_));
  }

  std::string ColumnText(int index) const override {
    const unsigned char* p = sqlite3_column_text(stmt_, index);
    int n = sqlite3_column_bytes(stmt_, index);
    return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
  }
  std::string ColumnBlob(int index) const override {
    const void* p = sqlite3_column_blob(stmt_, index);
    int n = sqlite3_column_bytes(stmt_, index);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }
  int64_t ColumnInt(int index) const override { return sqlite3_column_int64(stmt_, index); }
  bool ColumnIsNull(int index) const override {
    return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
  }

 private:
  Statement& Check(int rc) {
    if (rc != SQLITE_OK && bind_status_.ok()) bind_status_ = SqliteStatus(rc, db_, "bind");
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  bool* busy_;
  absl::Status bind_status_;
};

absl::StatusOr<std::unique_ptr<Statement>> SqliteConnectionImpl::Prepare(const char* sql) {
  ASSIGN_OR_RETURN(CachedStatement * cached, Entry(sql));
  if (!cached->busy) {
    cached->busy = true;
    return std::make_unique<SqliteStatement>(db_, cached->stmt, &cached->busy);
  }
  sqlite3_stmt* own = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, 0, &own, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, "prepare");
  return std::make_unique<SqliteStatement>(db_, own, nullptr);
}

}  // namespace

std::unique_ptr<SqliteConnection> WrapSqlite(sqlite3* db) {
  return std::make_unique<SqliteConnectionImpl>(db);
}

}  // namespace slipway::storage
