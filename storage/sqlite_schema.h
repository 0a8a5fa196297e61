// SQLite's schema migrations (storage/database.cc applies them; PostgreSQL's are in
// storage/postgres_schema.h).
#ifndef SLIPWAY_STORAGE_SQLITE_SCHEMA_H_
#define SLIPWAY_STORAGE_SQLITE_SCHEMA_H_

#include "absl/types/span.h"

namespace slipway::storage {

// Forward-only: entry i takes the schema from version i to i + 1, so the count is
// LatestSchemaVersion(). Never edit an entry that has shipped; append a new one.
absl::Span<const char* const> SqliteMigrations();

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_SQLITE_SCHEMA_H_
