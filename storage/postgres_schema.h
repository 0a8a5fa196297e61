// PostgreSQL's schema migrations (storage/database.cc applies them; SQLite's are there too).
#ifndef SLIPWAY_STORAGE_POSTGRES_SCHEMA_H_
#define SLIPWAY_STORAGE_POSTGRES_SCHEMA_H_

#include "absl/types/span.h"

namespace slipway::storage {

struct PostgresMigration {
  int version;
  const char* sql;
};

// In version order; the last one's version is LatestSchemaVersion().
absl::Span<const PostgresMigration> PostgresMigrations();

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_POSTGRES_SCHEMA_H_
