// `slipwayd store copy`: every row of one store into another, empty one (SQLite to PostgreSQL,
// or back), run while slipwayd is stopped. Rows are copied as stored: secret values stay sealed
// under the same key, so the destination's replicas need the same secret key file.
#ifndef SLIPWAY_STORAGE_STORE_COPY_H_
#define SLIPWAY_STORAGE_STORE_COPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/database.h"

namespace slipway::storage {

struct CopiedTable {
  std::string name;
  int64_t rows = 0;
  // SHA-256 (hex) of every row in key order, as read back from the destination; equal to the
  // source's, or the copy fails.
  std::string checksum;
};

// Copies in one destination transaction: on any error the destination keeps nothing.
// FAILED_PRECONDITION if the destination has rows already, or the two are not at one schema
// version; DATA_LOSS if what is read back differs from the source (count or checksum).
absl::StatusOr<std::vector<CopiedTable>> CopyStore(Database& from, Database& to);

// Row count and checksum of every table of `db`, in one snapshot.
absl::StatusOr<std::vector<CopiedTable>> SummarizeStore(Database& db);

// The tables the copy knows, for the test that every table of the schema is among them.
std::vector<std::string> CopiedTableNames();

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_STORE_COPY_H_
