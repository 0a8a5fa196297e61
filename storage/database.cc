#include "storage/database.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/private_files.h"
#include "common/status_macros.h"
#include "storage/connection.h"
#include "storage/lease_repository.h"
#include "storage/pipeline_repository.h"
#include "storage/postgres.h"
#include "storage/postgres_schema.h"
#include "storage/sqlite_connection.h"
#include "storage/sqlite_schema.h"
#include "storage/store_url.h"
#include "storage/time_migration.h"

namespace slipway::storage {
namespace {

absl::Status NewerSchema(const std::string& name, int version) {
  return absl::FailedPreconditionError(absl::StrCat(
      "storage: database ", name, " has schema version ", version,
      ", written by a newer Slipway; this slipwayd knows versions up to ", LatestSchemaVersion(),
      ". Upgrade slipwayd, or restore a backup made by this version"));
}

// Migration 7's data step: index the sources of every stored pipeline.
absl::Status BackfillSourceBindings(Transaction& tx) {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT name, spec FROM pipelines"));
  std::vector<v1::Pipeline> all;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    v1::Pipeline p;
    if (p.ParseFromString(stmt->ColumnBlob(1))) all.push_back(std::move(p));
  }
  stmt.reset();
  for (const auto& p : all) RETURN_IF_ERROR(PutSourceBindings(tx, p));
  return absl::OkStatus();
}

}  // namespace

int LatestSchemaVersion() { return static_cast<int>(SqliteMigrations().size()); }

absl::Status Statement::Run() {
  while (true) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return absl::OkStatus();
  }
}

absl::Status Statement::RunLater(absl::Status duplicate) {
  absl::Status s = Run();
  if (absl::IsAlreadyExists(s) && !duplicate.ok()) return duplicate;
  return s;
}

absl::StatusOr<std::unique_ptr<Statement>> Transaction::Prepare(const char* sql) {
  return conn_->Prepare(sql);
}

int64_t Transaction::Changes() const { return conn_->Changes(); }

absl::StatusOr<std::unique_ptr<Connection>> Database::NewConnection() {
  if (backend_ == Backend::kPostgres) return ConnectPostgres(options_.postgres, pg_sessions_);
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(options_.path.c_str(), &db, flags,
                           options_.vfs.empty() ? nullptr : options_.vfs.c_str());
  std::unique_ptr<SqliteConnection> conn = WrapSqlite(db);
  if (rc != SQLITE_OK) {
    return SqliteStatus(rc, db, absl::StrCat("open ", options_.path));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(absl::ToInt64Milliseconds(options_.busy_timeout)));
  if (options_.path != ":memory:") {
    RETURN_IF_ERROR(conn->Exec("PRAGMA journal_mode=WAL"));
  }
  RETURN_IF_ERROR(conn->Exec("PRAGMA synchronous=FULL"));
  RETURN_IF_ERROR(conn->Exec("PRAGMA foreign_keys=ON"));
  return conn;
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options) {
  if (options.postgres.empty() && options.path != ":memory:") {
    // The database holds secrets and token hashes: 0600 whatever the umask. SQLite gives its
    // WAL and shared-memory files the database file's mode; ones left by an older Slipway are
    // narrowed here.
    if (absl::Status s = MakePrivateFile(options.path); !s.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("storage: open: ", s.message()));
    }
    for (const char* suffix : {"-wal", "-shm", "-journal"}) {
      ::chmod((options.path + suffix).c_str(), 0600);  // absent is fine
    }
  }
  std::unique_ptr<Database> db(new Database(options));
  ASSIGN_OR_RETURN(auto writer, db->NewConnection());
  {
    absl::MutexLock lock(&db->write_mu_);
    db->writer_ = std::move(writer);
  }
  RETURN_IF_ERROR(db->Migrate());
  db->committer_ = std::thread([d = db.get()] { d->CommitLoop(); });
  return db;
}

Database::Database(DatabaseOptions options)
    : options_(std::move(options)),
      backend_(options_.postgres.empty() ? Backend::kSqlite : Backend::kPostgres),
      name_(backend_ == Backend::kSqlite ? options_.path : MaskConnectionString(options_.postgres)),
      pg_sessions_(std::make_shared<PostgresSessions>()) {}

Database::~Database() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (committer_.joinable()) committer_.join();
}

absl::Status Database::Migrate() {
  absl::MutexLock lock(&write_mu_);
  RETURN_IF_ERROR(backend_ == Backend::kSqlite ? MigrateSqlite() : MigratePostgres());
  schema_version_ = LatestSchemaVersion();
  return absl::OkStatus();
}

absl::Status Database::MigrateSqlite() {
  sqlite3* h = static_cast<SqliteConnection*>(writer_.get())->db();
  RETURN_IF_ERROR(writer_->Exec("BEGIN IMMEDIATE"));
  auto rollback = [&](absl::Status s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    writer_->Exec("ROLLBACK").IgnoreError();
    return s;
  };
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return rollback(SqliteStatus(rc, h, "read schema version"));
  int version = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : 0;
  sqlite3_finalize(stmt);
  if (version > LatestSchemaVersion()) return rollback(NewerSchema(name_, version));
  for (int v = version; v < LatestSchemaVersion(); ++v) {
    absl::Status s = v + 1 == 12 ? RegisterTimeMigration(h) : absl::OkStatus();
    if (s.ok()) s = writer_->Exec(SqliteMigrations()[v]);
    if (s.ok() && v + 1 == 7) {
      Transaction tx(writer_.get(), /*writable=*/true, options_.secrets.get());
      s = BackfillSourceBindings(tx);
    }
    if (!s.ok()) return rollback(s);
    std::string set = absl::StrCat("PRAGMA user_version = ", v + 1);
    s = writer_->Exec(set.c_str());
    if (!s.ok()) return rollback(s);
  }
  return writer_->Exec("COMMIT");
}

absl::Status Database::MigratePostgres() {
  // Replicas starting together migrate one at a time: the write lock is taken first.
  RETURN_IF_ERROR(writer_->BeginWrite());
  auto rollback = [&](absl::Status s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    writer_->Control("ROLLBACK").IgnoreError();
    return s;
  };
  Transaction tx(writer_.get(), /*writable=*/true, options_.secrets.get());
  absl::Status s = writer_->Exec(
      "CREATE TABLE IF NOT EXISTS slipway_schema (id INTEGER PRIMARY KEY CHECK (id = 1), "
      "version INTEGER NOT NULL)");
  if (!s.ok()) return rollback(s);
  int64_t version = 0;
  {
    auto stmt = tx.Prepare("SELECT version FROM slipway_schema WHERE id = 1");
    if (!stmt.ok()) return rollback(stmt.status());
    absl::StatusOr<bool> row = (*stmt)->Step();
    if (!row.ok()) return rollback(row.status());
    if (*row) version = (*stmt)->ColumnInt(0);
  }
  if (version > LatestSchemaVersion())
    return rollback(NewerSchema(name_, static_cast<int>(version)));
  if (PostgresMigrations().back().version != LatestSchemaVersion()) {
    return rollback(absl::InternalError("storage: PostgreSQL's schema lags SQLite's"));
  }
  for (const PostgresMigration& m : PostgresMigrations()) {
    if (m.version <= version) continue;
    s = writer_->Exec(m.sql);
    if (!s.ok()) return rollback(s);
    version = m.version;
  }
  auto set = tx.Prepare(
      "INSERT INTO slipway_schema (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET "
      "version = excluded.version");
  if (!set.ok()) return rollback(set.status());
  (*set)->Bind(1, version);
  s = (*set)->Run();
  if (!s.ok()) return rollback(s);
  return writer_->Control("COMMIT");
}

struct Database::PendingWrite {
  absl::FunctionRef<absl::Status(Transaction&)>* fn;
  bool repeatable = false;
  WriteRider* rider = nullptr;
  absl::Status status;
  bool done = false;
  Transaction::WriteHooks hooks;
};

namespace {
thread_local WriteRider* current_rider = nullptr;
}  // namespace

ScopedWriteRider::ScopedWriteRider(WriteRider* rider) : previous_(current_rider) {
  current_rider = rider;
}

ScopedWriteRider::~ScopedWriteRider() { current_rider = previous_; }

void Transaction::NotePipelineChanged(std::string_view name) {
  if (hooks_ != nullptr) hooks_->changed_pipelines.emplace_back(name);
}

absl::Status Transaction::AfterAnswers(std::function<absl::Status()> then) {
  if (hooks_ == nullptr) return then();
  hooks_->after_answers.push_back(std::move(then));
  return absl::OkStatus();
}

void Transaction::AfterCommit(std::function<void()> then) {
  if (hooks_ == nullptr) {
    then();
    return;
  }
  hooks_->after_commit.push_back(std::move(then));
}

absl::Status Database::Write(absl::FunctionRef<absl::Status(Transaction&)> fn) {
  return Write(fn, WriteOptions{});
}

absl::Status Database::Write(absl::FunctionRef<absl::Status(Transaction&)> fn,
                             WriteOptions options) {
  PendingWrite me{&fn, options.repeatable};
  if (current_rider != nullptr && !current_rider->committed) me.rider = current_rider;
  absl::MutexLock lock(&queue_mu_);
  queue_.push_back(&me);
  queue_mu_.Await(absl::Condition(&me.done));
  return me.status;
}

size_t Database::queued_writes() {
  absl::MutexLock lock(&queue_mu_);
  return queue_.size();
}

void Database::CommitLoop() {
  constexpr size_t kMaxBatch = 128;
  std::vector<PendingWrite*> batch;
  while (true) {
    {
      absl::MutexLock lock(&queue_mu_);
      auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
        return stopping_ || !queue_.empty();
      };
      queue_mu_.Await(absl::Condition(&work));
      if (queue_.empty()) return;  // stopping, and nothing left to write
      // Everything queued so far goes into one transaction.
      const auto n = static_cast<std::ptrdiff_t>(std::min(queue_.size(), kMaxBatch));
      batch.assign(queue_.begin(), queue_.begin() + n);
      queue_.erase(queue_.begin(), queue_.begin() + n);
    }
    RunBatch(batch);
    // What committed writes left for after their commit (shipping audit lines) runs here,
    // outside the write lock, before their writers are woken. A write is OK only if committed.
    for (PendingWrite* w : batch) {
      if (w->status.ok()) {
        for (const auto& then : w->hooks.after_commit) then();
      }
      w->hooks.after_commit.clear();
    }
    absl::MutexLock lock(&queue_mu_);
    for (PendingWrite* w : batch) w->done = true;
  }
}

void Database::RunBatch(const std::vector<PendingWrite*>& batch) {
  absl::MutexLock lock(&write_mu_);
  // What the writes left to read after their answers holds statements of this connection:
  // released here, under the lock, whatever became of them.
  absl::Cleanup release_statements = [&batch] {
    for (PendingWrite* w : batch) w->hooks.after_answers.clear();
  };
  absl::Status begin = writer_->BeginWrite();
  if (!begin.ok()) {
    writes_failing_ = true;
    for (PendingWrite* w : batch) w->status = begin;
    return;
  }
  Transaction tx(writer_.get(), /*writable=*/true, options_.secrets.get());
  std::optional<WriteFence> fence;
  {
    absl::MutexLock fence_lock(&fence_mu_);
    fence = fence_;
  }
  // The fence's lease is read with the batch's first round trip and checked before the commit
  // (writes are serialized, so what it reads stays true until then).
  std::function<absl::Status()> fence_held;
  if (fence.has_value()) {
    auto check = LeaseRepository().CheckLater(tx, fence->lease, fence->owner, fence->token);
    if (!check.ok()) {
      RefuseBatch(batch, check.status());
      return;
    }
    fence_held = *std::move(check);
  }
  bool any_ok = false;
  for (size_t i = 0; i < batch.size();) {
    // Consecutive repeatable writes on PostgreSQL go together: one round trip for all of them.
    size_t end = i;
    while (backend_ == Backend::kPostgres && end < batch.size() && batch[end]->repeatable) ++end;
    if (end - i >= 2 && RunTogether(tx, batch, i, end)) {
      any_ok = true;
      i = end;
      continue;
    }
    for (end = std::max(end, i + 1); i < end; ++i) {
      RunAlone(tx, batch[i], /*savepoint=*/batch.size() > 1);
      any_ok = any_ok || batch[i]->status.ok();
    }
  }
  if (fence_held != nullptr) {
    absl::Status held = fence_held();
    fence_held = nullptr;  // its statement ends with it, before the commit
    if (!held.ok()) {
      RefuseBatch(batch, held);
      return;
    }
  }
  if (any_ok && backend_ == Backend::kPostgres) {
    // Other replicas learn of this batch's pipeline changes from the change log.
    std::vector<std::string> changed;
    for (PendingWrite* w : batch) {
      if (!w->status.ok()) continue;
      changed.insert(changed.end(), w->hooks.changed_pipelines.begin(),
                     w->hooks.changed_pipelines.end());
    }
    absl::Status logged = LogPipelineChanges(tx, changed);
    if (!logged.ok()) {
      writer_->Control("ROLLBACK").IgnoreError();
      writes_failing_ = true;
      for (PendingWrite* w : batch) w->status = logged;
      return;
    }
  }
  absl::Status end = any_ok ? writer_->Control("COMMIT") : writer_->Control("ROLLBACK");
  if (any_ok) {
    writes_failing_ = !end.ok();
  } else if (std::all_of(batch.begin(), batch.end(),
                         [](const PendingWrite* w) { return absl::IsUnavailable(w->status); })) {
    // Every write failed for want of the database (its start is only sent, so its errors come
    // back here).
    writes_failing_ = true;
  }
  if (any_ok && end.ok()) {
    for (PendingWrite* w : batch) {
      if (!w->status.ok()) continue;
      pipeline_changes_.Publish(w->hooks.changed_pipelines);
      // Read by the writing thread only after `done`, which is published under queue_mu_.
      if (w->rider != nullptr) w->rider->committed = true;
    }
  }
  if (!end.ok()) {
    // A failed COMMIT may already have rolled back; ROLLBACK then reports an error.
    if (writer_->InTransaction()) writer_->Control("ROLLBACK").IgnoreError();
    for (PendingWrite* w : batch) {
      if (w->status.ok()) w->status = end;
    }
  }
}

void Database::RefuseBatch(const std::vector<PendingWrite*>& batch, absl::Status held) {
  // Not fenced but failing: the transaction's start (sent without waiting) or the lease read
  // could not reach the database.
  if (!absl::IsFailedPrecondition(held)) writes_failing_ = true;
  writer_->Control("ROLLBACK").IgnoreError();
  fenced_writes_.fetch_add(batch.size(), std::memory_order_relaxed);
  // UNAVAILABLE: the caller (a CI job, a Git host) retries, and reaches a live replica.
  if (absl::IsFailedPrecondition(held)) held = absl::UnavailableError(held.message());
  for (PendingWrite* w : batch) w->status = held;
}

absl::Status Database::Attempt(Transaction& tx, PendingWrite* w) {
  w->hooks = Transaction::WriteHooks{};  // what an earlier attempt collected went with it
  tx.hooks_ = &w->hooks;
  absl::Status s = (*w->fn)(tx);
  if (s.ok() && w->rider != nullptr) s = w->rider->append(tx);
  tx.hooks_ = nullptr;
  return s;
}

absl::Status Database::RunAfterAnswers(Transaction::WriteHooks& hooks) {
  // Released when run: what they hold (statements) must not outlive the transaction.
  const auto after_answers = std::exchange(hooks.after_answers, {});
  for (const auto& then : after_answers) RETURN_IF_ERROR(then());
  return absl::OkStatus();
}

void Database::RunAlone(Transaction& tx, PendingWrite* w, bool savepoint) {
  absl::Status sp = savepoint ? writer_->ControlLater("SAVEPOINT slipway_write") : absl::OkStatus();
  if (!sp.ok()) {
    w->status = sp;
    return;
  }
  // A write's statements sent without waiting (Statement::RunLater) are all answered by the
  // Flush at its end, which reports the first that failed.
  absl::Status s = Attempt(tx, w);
  absl::Status flushed = writer_->Flush();
  if (!flushed.ok()) s = flushed;
  if (s.ok()) s = RunAfterAnswers(w->hooks);
  w->status = s;
  if (!savepoint) return;
  if (!s.ok()) writer_->Control("ROLLBACK TO slipway_write").IgnoreError();
  // PostgreSQL keeps a savepoint until the transaction ends and rolls back to the newest of a
  // name, so the next write's SAVEPOINT stands in for RELEASE: a round trip less.
  if (backend_ != Backend::kPostgres) writer_->Control("RELEASE slipway_write").IgnoreError();
}

bool Database::RunTogether(Transaction& tx, const std::vector<PendingWrite*>& batch, size_t begin,
                           size_t end) {
  if (!writer_->ControlLater("SAVEPOINT slipway_write").ok()) return false;
  bool failed = false;
  for (size_t i = begin; i < end && !failed; ++i) failed = !Attempt(tx, batch[i]).ok();
  // One round trip answers them all (drained even after a failure). Which failed is not known
  // from it: then each runs again alone.
  const bool flushed = writer_->Flush().ok();
  failed = failed || !flushed;
  for (size_t i = begin; i < end && !failed; ++i) failed = !RunAfterAnswers(batch[i]->hooks).ok();
  if (failed) {
    writer_->Control("ROLLBACK TO slipway_write").IgnoreError();
    return false;
  }
  for (size_t i = begin; i < end; ++i) batch[i]->status = absl::OkStatus();
  return true;
}

// An idle reader, or null when the caller is to open one (counted as open already). SQLite
// opens one per concurrent read; PostgreSQL waits past max_readers.
std::unique_ptr<Connection> Database::TakeReader() {
  absl::MutexLock lock(&readers_mu_);
  const bool capped = backend_ == Backend::kPostgres;
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(readers_mu_) {
    return !idle_readers_.empty() || !capped || open_readers_ < options_.max_readers;
  };
  readers_mu_.Await(absl::Condition(&ready));
  if (idle_readers_.empty()) {
    ++open_readers_;
    return nullptr;
  }
  auto conn = std::move(idle_readers_.back());
  idle_readers_.pop_back();
  return conn;
}

void Database::ReturnReader(std::unique_ptr<Connection> conn) {
  absl::MutexLock lock(&readers_mu_);
  idle_readers_.push_back(std::move(conn));
}

void Database::SetWriteFence(std::optional<WriteFence> fence) {
  absl::MutexLock lock(&fence_mu_);
  fence_ = std::move(fence);
}

absl::Status Database::Compact() {
  absl::MutexLock lock(&write_mu_);
  if (backend_ == Backend::kPostgres) return writer_->Exec("VACUUM FULL");
  // Old page images (with whatever they held) leave the WAL and the file's free pages.
  RETURN_IF_ERROR(writer_->Exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  RETURN_IF_ERROR(writer_->Exec("VACUUM"));
  return writer_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

absl::Status Database::CheckWritable() {
  if (!writes_failing_) {
    // A statement, not only a transaction: the transaction's start may be sent without waiting.
    return Read([](Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT 1"));
      return stmt->Step().status();
    });
  }
  // The last commit failed: only a write that reaches the disk says it works again.
  return Write([](Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO write_probe (id, time_ms) VALUES (1, 1) "
                                           "ON CONFLICT (id) DO UPDATE SET time_ms = "
                                           "write_probe.time_ms + 1"));
    return stmt->Run();
  });
}

absl::Status Database::Read(absl::FunctionRef<absl::Status(Transaction&)> fn) {
  reads_.fetch_add(1, std::memory_order_relaxed);
  if (backend_ == Backend::kSqlite && options_.path == ":memory:") {
    absl::MutexLock lock(&write_mu_);
    RETURN_IF_ERROR(writer_->Control("BEGIN"));
    Transaction tx(writer_.get(), /*writable=*/false, options_.secrets.get());
    absl::Status s = fn(tx);
    writer_->Control("COMMIT").IgnoreError();
    return s;
  }
  std::unique_ptr<Connection> conn = TakeReader();
  if (conn == nullptr) {
    absl::StatusOr<std::unique_ptr<Connection>> opened = NewConnection();
    if (!opened.ok()) {
      absl::MutexLock lock(&readers_mu_);
      --open_readers_;
      return opened.status();
    }
    conn = *std::move(opened);
  }
  absl::Status s = conn->BeginRead();
  if (s.ok()) {
    Transaction tx(conn.get(), /*writable=*/false, options_.secrets.get());
    s = fn(tx);
    absl::Status end = conn->EndRead();
    if (s.ok()) s = end;
  } else if (conn->InTransaction()) {
    conn->Control("ROLLBACK").IgnoreError();
  }
  ReturnReader(std::move(conn));
  return s;
}

}  // namespace slipway::storage
