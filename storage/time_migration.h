// Migration 12's data step. Stored messages wrote times as RFC 3339 text and durations as
// pipeline-file text ("90s"); they are now google.protobuf.Timestamp and Duration. Both are
// length-delimited on the wire, so an old row still parses, but wrongly: every row is re-encoded.
#ifndef SLIPWAY_STORAGE_TIME_MIGRATION_H_
#define SLIPWAY_STORAGE_TIME_MIGRATION_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

struct sqlite3;

namespace slipway::storage {

// Registers slipway_times_v12(type, blob) on `db`: the stored message `blob` of the message
// type named `type` ("slipway.v1.Run"), its time and duration text re-encoded.
absl::Status RegisterTimeMigration(sqlite3* db);

// What slipway_times_v12 does to one stored message. Text that is not a time or duration (no
// version of Slipway wrote any) is dropped, as an unset field.
absl::StatusOr<std::string> ReencodeTimes(std::string_view type, std::string_view stored);

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_TIME_MIGRATION_H_
