// One connection to the store's database, used by one thread at a time: what Database needs of
// a backend (storage/database.cc for SQLite, storage/postgres.cc for PostgreSQL). Internal to
// storage/.
#ifndef SLIPWAY_STORAGE_CONNECTION_H_
#define SLIPWAY_STORAGE_CONNECTION_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/database.h"

namespace slipway::storage {

class Connection {
 public:
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  virtual ~Connection() = default;

  // Runs one or more statements without parameters (migrations).
  virtual absl::Status Exec(const char* sql) = 0;
  // Runs one short statement that returns nothing (COMMIT, SAVEPOINT …). `sql` is a literal.
  virtual absl::Status Control(const char* sql) = 0;
  // A statement of the repositories' dialect (database.h). `sql` is a literal: a cache key.
  virtual absl::StatusOr<std::unique_ptr<Statement>> Prepare(const char* sql) = 0;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  virtual int64_t Changes() = 0;
  // Like Control, but a backend that pipelines may only send it; its error comes from Flush.
  virtual absl::Status ControlLater(const char* sql) { return Control(sql); }
  // Waits for the answers of the statements sent without waiting (Statement::RunLater,
  // ControlLater) since the last Flush; returns the first error among them.
  virtual absl::Status Flush() { return absl::OkStatus(); }
  // Starts the one write transaction of the whole store (writers wait for each other).
  virtual absl::Status BeginWrite() = 0;
  // Starts a read transaction that sees one snapshot.
  virtual absl::Status BeginRead() = 0;
  // Ends it; a backend that pipelines may only send the COMMIT (its answer is read when the
  // connection is next used).
  virtual absl::Status EndRead() { return Control("COMMIT"); }
  // Whether a transaction is open (a failed COMMIT may have ended it).
  virtual bool InTransaction() const = 0;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_CONNECTION_H_
