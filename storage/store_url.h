// Where slipwayd keeps its state, as the operator writes it (--store, the config's `store`):
//   (empty)                  SQLite at the default path (<data dir>/slipway.db)
//   sqlite:PATH              SQLite at PATH
//   postgres://… postgresql://…  PostgreSQL (libpq's URI form; storage/postgres.h)
#ifndef SLIPWAY_STORAGE_STORE_URL_H_
#define SLIPWAY_STORAGE_STORE_URL_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/database.h"

namespace slipway::storage {

// INVALID_ARGUMENT naming the forms above for anything else.
absl::StatusOr<DatabaseOptions> StoreOptions(std::string_view store,
                                             const std::string& default_sqlite_path);

// The store as it may be shown: the path, or the connection string with its password as ***.
std::string StoreDisplayName(std::string_view store, const std::string& default_sqlite_path);

// The connection string with its password shown as ***: in a URI
// (postgres://user:***@host/db, ?password=***) and in key=value form (password=***).
std::string MaskConnectionString(std::string_view conninfo);

// Slipway's own connection-string parameter, taken out before libpq sees the string: with
// pooler=transaction (a URI query parameter or a key=value pair) a transaction-pooling proxy
// such as PgBouncer with pool_mode=transaction sits between Slipway and PostgreSQL, and
// `*transaction_pooler` is set. pooler=none (the default) and pooler=session say sessions are
// Slipway's own. INVALID_ARGUMENT for any other value.
absl::StatusOr<std::string> WithoutPooler(std::string_view conninfo, bool* transaction_pooler);

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_STORE_URL_H_
