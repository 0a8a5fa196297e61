// SQLite's connection and statements (storage/connection.h), with the raw handle that
// migrations and pragmas need. Internal to storage/.
#ifndef SLIPWAY_STORAGE_SQLITE_CONNECTION_H_
#define SLIPWAY_STORAGE_SQLITE_CONNECTION_H_

#include <memory>

#include "storage/connection.h"

struct sqlite3;

namespace slipway::storage {

class SqliteConnection : public Connection {
 public:
  virtual sqlite3* db() = 0;
};

// Takes ownership of `db` (closed with the connection, also when it failed to open).
std::unique_ptr<SqliteConnection> WrapSqlite(sqlite3* db);

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_SQLITE_CONNECTION_H_
