// The retention step: prunes old releases and old run event logs per each stage's retention
// setting, never touching the current release, the one before it, a release a hold pins, or
// the target of a rollback in progress.
#ifndef SLIPWAY_RELEASE_RETENTION_H_
#define SLIPWAY_RELEASE_RETENTION_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "storage/database.h"

namespace slipway::release {

struct RetentionReport {
  int64_t releases_deleted = 0;
  int64_t events_deleted = 0;
};

// One pass over every pipeline at the clock's now. Each stage is pruned in its own
// transaction.
absl::StatusOr<RetentionReport> PruneHistory(storage::Database& db, const Clock& clock);

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_RETENTION_H_
