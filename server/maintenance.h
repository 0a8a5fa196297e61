// slipwayd's periodic maintenance: retention of request ids, deliveries, audit records,
// releases and run events, and of the replicas' change log. One round is a function of the
// store and the injected clock; server.cc's loop decides when it runs, and where (the replica
// that owns the work "maintenance").
#ifndef SLIPWAY_SERVER_MAINTENANCE_H_
#define SLIPWAY_SERVER_MAINTENANCE_H_

#include <cstdint>

#include "absl/time/time.h"
#include "common/clock.h"
#include "storage/audit_log.h"
#include "storage/database.h"

namespace slipway::server {

struct MaintenanceDeps {
  storage::Database* db = nullptr;
  // Retention's deletions are recorded here, as slipwayd's own actions.
  storage::AuditLog* audit = nullptr;
  const Clock* clock = nullptr;
  absl::Duration delivery_retention;
  int64_t delivery_keep = 0;
  absl::Duration audit_retention;
};

// One round. Failures are logged and the rest still runs; the next round tries again.
void MaintainOnce(const MaintenanceDeps& deps);

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_MAINTENANCE_H_
