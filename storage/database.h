// The database under everything Slipway stores: connections, transactions, prepared statements
// and schema migrations, on SQLite (the embedded default) or PostgreSQL (storage/postgres.h).
// Only storage/ sees SQL; the layers above use the repositories (pipeline_repository.h,
// token_repository.h, request_log.h) inside Database::Write / Database::Read. Repositories write
// one dialect: SQLite's `?` parameters and the SQL both backends share (upserts with ON
// CONFLICT, RETURNING); the PostgreSQL connection translates the parameters.
//
// Durability: SQLite runs WAL with synchronous=FULL, PostgreSQL commits synchronously, so when
// Write returns OK the transaction is on disk.
#ifndef SLIPWAY_STORAGE_DATABASE_H_
#define SLIPWAY_STORAGE_DATABASE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/change_feed.h"

struct sqlite3;

namespace slipway {
class SecretBox;
}  // namespace slipway

namespace slipway::storage {

// The schema version this binary writes. A database with a higher version is refused.
int LatestSchemaVersion();

struct DatabaseOptions {
  // Path of the database file (created if missing), or ":memory:" for a private in-memory
  // database (reads then share the write connection).
  std::string path;
  // A PostgreSQL connection string (postgres://user@host/db or "host=… dbname=…"). When set,
  // the store is that database and `path` and `vfs` are not used.
  std::string postgres;
  // Most connections open at once for reads (PostgreSQL; SQLite opens one per concurrent read).
  int max_readers = 8;
  // Name of a registered SQLite VFS to use instead of the default (tests inject faults).
  std::string vfs;
  absl::Duration busy_timeout = absl::Seconds(5);
  // Seals secret values at rest (storage/sealed_secrets.h). Null: stored as they are.
  std::shared_ptr<const SecretBox> secrets;
};

class Connection;
struct PostgresSessions;

// Which database a Database stores in.
enum class Backend { kSqlite, kPostgres };

// A prepared statement bound to one connection, reset when destroyed. Column and parameter
// indexes follow SQLite: parameters from 1, columns from 0.
class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  virtual ~Statement() = default;

  virtual Statement& Bind(int index, std::string_view text) = 0;
  virtual Statement& BindBlob(int index, std::string_view bytes) = 0;
  virtual Statement& Bind(int index, int64_t value) = 0;
  virtual Statement& BindNull(int index) = 0;

  // Returns true if a row is available, false when done; errors as absl::Status.
  virtual absl::StatusOr<bool> Step() = 0;
  // Runs the statement to completion; for INSERT/UPDATE/DELETE.
  absl::Status Run();
  // Like Run(), for a write whose caller needs nothing back, not even its error at once: in a
  // write transaction on PostgreSQL the statement is only sent (libpq's pipeline mode), and its
  // error, if any, comes back from the next statement that returns rows, from
  // Transaction::Changes(), or from Database::Write itself. `duplicate`, when not OK, is the
  // error given for a unique-constraint violation (ALREADY_EXISTS) instead of the store's.
  virtual absl::Status RunLater(absl::Status duplicate = absl::OkStatus());
  // For a read whose rows are wanted later in the transaction: on PostgreSQL the statement is
  // sent now and its rows come back in the round trip of the next statement that waits for an
  // answer (Step reads them then), so independent reads share one round trip. Elsewhere, and for
  // a read that pages through a cursor, nothing happens until Step.
  virtual absl::Status Prefetch() { return absl::OkStatus(); }

  virtual std::string ColumnText(int index) const = 0;
  virtual std::string ColumnBlob(int index) const = 0;
  virtual int64_t ColumnInt(int index) const = 0;
  virtual bool ColumnIsNull(int index) const = 0;
};

// A transaction in progress on one connection. Obtained only through Database::Write/Read.
class Transaction {
 public:
  // Prepares (or reuses a cached) statement. `sql` must be a string with static storage
  // duration: it is the cache key.
  absl::StatusOr<std::unique_ptr<Statement>> Prepare(const char* sql);
  // Number of rows changed by the last INSERT, UPDATE or DELETE.
  int64_t Changes() const;
  bool writable() const { return writable_; }
  // What repositories seal secret values with; null when the database has no key.
  const SecretBox* secrets() const { return secrets_; }
  // Records that this write changed the pipeline `name`: published on the database's
  // pipeline_changes() feed once the write has committed (never if it is rolled back).
  void NotePipelineChanged(std::string_view name);
  // In a write: runs `then` once every statement the write sent has been answered (on
  // PostgreSQL in the round trip that ends the write, which writes batched with it may share),
  // still inside the transaction; its error fails the write. So a write can read what it wrote
  // (a sequence assigned by the store, through Statement::Prefetch) without a round trip of its
  // own. Elsewhere (a read), `then` runs at once.
  absl::Status AfterAnswers(std::function<absl::Status()> then);
  // In a write: runs `then` once the write has committed (on the committing thread, before the
  // writer is woken, outside the write lock); never if it is rolled back, and once however often
  // the write ran (WriteOptions::repeatable). Elsewhere, `then` runs at once.
  void AfterCommit(std::function<void()> then);

 private:
  friend class Database;
  Transaction(Connection* conn, bool writable, const SecretBox* secrets)
      : conn_(conn), writable_(writable), secrets_(secrets) {}
  // What the write being run collects (Database::PendingWrite); null outside one.
  struct WriteHooks {
    std::vector<std::string> changed_pipelines;
    std::vector<std::function<absl::Status()>> after_answers;
    std::vector<std::function<void()>> after_commit;
  };
  Connection* conn_;
  bool writable_;
  const SecretBox* secrets_;
  WriteHooks* hooks_ = nullptr;
};

// A step that rides along with the first successful write of the thread that set it (the audit
// record of the call that thread is serving), so that a call's change and its record commit in
// one transaction with one fsync. See ScopedWriteRider.
struct WriteRider {
  // Runs in the write's transaction (its savepoint), after the write's own `fn` succeeded. An
  // error undoes that write too.
  std::function<absl::Status(Transaction&)> append;
  // Set when a transaction that ran `append` committed; later writes then carry nothing.
  bool committed = false;
};

// While alive, Database::Write on this thread attaches `rider` to its write until one commits
// with it. Not nestable: the innermost scope wins.
class ScopedWriteRider {
 public:
  explicit ScopedWriteRider(WriteRider* rider);
  ~ScopedWriteRider();
  ScopedWriteRider(const ScopedWriteRider&) = delete;
  ScopedWriteRider& operator=(const ScopedWriteRider&) = delete;

 private:
  WriteRider* previous_;
};

// A lease every write of this process must still hold (storage/lease_repository.h).
struct WriteFence {
  std::string lease;
  std::string owner;
  int64_t token = 0;
};

// Thread-safe. Writes are serialized through one connection; reads use a pool of connections
// and run concurrently with writes (WAL).
class Database {
 public:
  // Opens or creates the database and applies pending migrations. FAILED_PRECONDITION if the
  // file was written by a newer Slipway (schema version above LatestSchemaVersion()).
  static absl::StatusOr<std::unique_ptr<Database>> Open(const DatabaseOptions& options);
  ~Database();

  // Runs `fn` in a write transaction. If `fn` returns OK its changes are committed and durable
  // when Write returns; otherwise they are rolled back and fn's error is returned.
  //
  // Group commit: a committer thread takes every write queued so far and runs them in one
  // transaction (each inside its own savepoint, so one failing `fn` undoes only its own
  // changes) with one fsync; writes that arrive meanwhile go into the next. `fn` runs on that
  // thread and must not call Write.
  absl::Status Write(absl::FunctionRef<absl::Status(Transaction&)> fn);
  struct WriteOptions {
    // `fn` may run more than once: all it does outside `tx` is set what it hands back (and what
    // it leaves to Transaction::AfterCommit), so running it again loses and doubles nothing. On
    // PostgreSQL, repeatable writes of one batch are sent together and answered in one round
    // trip instead of one each; if one of them fails, they are undone and run again one by one
    // (each in its own savepoint), so a failure still undoes only its own write.
    bool repeatable = false;
  };
  absl::Status Write(absl::FunctionRef<absl::Status(Transaction&)> fn, WriteOptions options);
  // Writes queued for the committer and not yet taken into a batch.
  size_t queued_writes();
  // While set, every write transaction first checks that the fence's lease is still held under
  // its token; when it is not (another process took it over), the transaction's writes fail
  // with UNAVAILABLE ("fenced: …"), so that callers retry elsewhere, and nothing is written. Writes
  // are serialized across processes, so no write of a fenced process lands after the takeover
  // committed.
  void SetWriteFence(std::optional<WriteFence> fence);
  // Publishes on pipeline_changes() the pipelines that other processes sharing this store
  // (replicas on PostgreSQL) changed since the last call; the first call only notes where the
  // change log stands. Returns how many changes it read; always 0 on SQLite, where one process
  // writes. Errors of the read (UNAVAILABLE while the server is down).
  absl::StatusOr<size_t> FollowOtherWriters();
  // Deletes all but the newest `keep` entries of the change log (PostgreSQL). Returns how many.
  absl::StatusOr<int64_t> PruneChangeLog(int64_t keep);
  // Writes refused by the fence so far.
  uint64_t fenced_writes() const { return fenced_writes_.load(std::memory_order_relaxed); }

  // Runs `fn` in a read transaction that sees one consistent snapshot.
  absl::Status Read(absl::FunctionRef<absl::Status(Transaction&)> fn);

  // OK when the store can be read and, if the last commit failed, when a probe write now
  // commits. The error of the failing read or write otherwise (UNAVAILABLE, RESOURCE_EXHAUSTED).
  absl::Status CheckWritable();

  // Rewrites the file without free pages and empties the WAL, so that data replaced or deleted
  // before (such as secrets stored before they were sealed) is no longer on disk. Blocks writes
  // while it runs. On PostgreSQL: VACUUM FULL.
  absl::Status Compact();

  // Names of pipelines changed by committed writes (Transaction::NotePipelineChanged).
  const ChangeFeed& pipeline_changes() const { return pipeline_changes_; }

  // Read transactions run so far (background work that should be idle reads nothing).
  uint64_t reads() const { return reads_.load(std::memory_order_relaxed); }

  int schema_version() const { return schema_version_; }
  Backend backend() const { return backend_; }
  // The file's path, or the PostgreSQL connection string with any password shown as ***.
  const std::string& name() const { return name_; }

 private:
  explicit Database(DatabaseOptions options);
  absl::StatusOr<std::unique_ptr<Connection>> NewConnection();
  absl::Status Migrate();
  absl::Status MigrateSqlite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status MigratePostgres() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  struct PendingWrite;
  void CommitLoop();
  void RunBatch(const std::vector<PendingWrite*>& batch);
  // Ends the batch's transaction without writing anything: the fence's lease is not held
  // (`held`: why), or could not be read.
  void RefuseBatch(const std::vector<PendingWrite*>& batch, absl::Status held)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // One write of a batch; in its own savepoint when `savepoint`.
  void RunAlone(Transaction& tx, PendingWrite* w, bool savepoint)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Writes [begin, end) of `batch` (repeatable ones) sent together, answered by one flush. False,
  // with nothing of them left in the transaction, if any of them failed.
  bool RunTogether(Transaction& tx, const std::vector<PendingWrite*>& batch, size_t begin,
                   size_t end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // A write's `fn` and rider, from a clean start; not flushed.
  absl::Status Attempt(Transaction& tx, PendingWrite* w);
  // What the write waits for once its statements are answered (Transaction::AfterAnswers).
  static absl::Status RunAfterAnswers(Transaction::WriteHooks& hooks);
  // Appends `names` to the change log (storage/change_log.cc).
  absl::Status LogPipelineChanges(Transaction& tx, const std::vector<std::string>& names);
  std::unique_ptr<Connection> TakeReader();
  void ReturnReader(std::unique_ptr<Connection> conn);

  const DatabaseOptions options_;
  const Backend backend_;
  const std::string name_;
  // PostgreSQL: what the store's connections share (whether statements are prepared).
  const std::shared_ptr<PostgresSessions> pg_sessions_;
  int schema_version_ = 0;
  absl::Mutex write_mu_;
  std::unique_ptr<Connection> writer_ ABSL_GUARDED_BY(write_mu_);
  absl::Mutex queue_mu_;
  std::vector<PendingWrite*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread committer_;
  // Set when a commit fails, cleared when one succeeds.
  std::atomic<bool> writes_failing_{false};
  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<Connection>> idle_readers_ ABSL_GUARDED_BY(readers_mu_);
  int open_readers_ ABSL_GUARDED_BY(readers_mu_) = 0;
  ChangeFeed pipeline_changes_;
  std::atomic<uint64_t> reads_{0};
  absl::Mutex fence_mu_;
  std::optional<WriteFence> fence_ ABSL_GUARDED_BY(fence_mu_);
  std::atomic<uint64_t> fenced_writes_{0};
  absl::Mutex follow_mu_;
  // The change log's last entry read by FollowOtherWriters; -1 before its first call.
  int64_t followed_seq_ ABSL_GUARDED_BY(follow_mu_) = -1;
};

// Turns a SQLite result code into a status: constraint violations are ALREADY_EXISTS, busy and
// locked are UNAVAILABLE, corruption is DATA_LOSS, full disk is RESOURCE_EXHAUSTED, I/O errors
// are UNAVAILABLE, everything else INTERNAL. `what` says which operation failed.
absl::Status SqliteStatus(int rc, sqlite3* db, std::string_view what);

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_DATABASE_H_
