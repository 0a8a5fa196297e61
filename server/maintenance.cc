#include "server/maintenance.h"

#include <spdlog/spdlog.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "release/retention.h"
#include "storage/request_log.h"
#include "storage/run_command_repository.h"
#include "trigger/intake.h"

namespace slipway::server {
namespace {

// Retention's deletions in the audit trail: what slipwayd itself removed.
void RecordRetention(storage::AuditLog& audit, const std::string& what,
                     const std::string& outcome) {
  v1::AuditRecord r;
  r.set_actor_kind(v1::ACTOR_KIND_SYSTEM);
  r.set_actor("slipwayd");
  r.set_action("retention/prune");
  r.set_target(what);
  r.set_outcome(outcome);
  audit.Record(std::move(r)).IgnoreError();  // logged by Record
}

}  // namespace

void MaintainOnce(const MaintenanceDeps& deps) {
  storage::Database& db = *deps.db;
  const Clock& clock = *deps.clock;
  auto pruned = storage::PruneRequestLog(db, clock);
  if (!pruned.ok()) {
    spdlog::warn("pruning the request log failed: {}", std::string(pruned.status().message()));
  } else if (*pruned > 0) {
    spdlog::info("pruned {} request ids older than {}", *pruned,
                 absl::FormatDuration(storage::kRequestIdRetention));
  }
  auto deliveries =
      trigger::PruneDeliveries(db, clock, deps.delivery_retention, deps.delivery_keep);
  if (!deliveries.ok()) {
    spdlog::warn("delivery retention failed: {}", std::string(deliveries.status().message()));
  } else if (*deliveries > 0) {
    spdlog::info("delivery retention pruned {} delivery record(s)", *deliveries);
    RecordRetention(*deps.audit, "deliveries",
                    absl::StrCat("pruned ", *deliveries, " delivery record(s)"));
  }
  auto audited = deps.audit->Prune(deps.audit_retention);
  if (!audited.ok()) {
    spdlog::warn("audit retention failed: {}", std::string(audited.status().message()));
  } else if (*audited > 0) {
    spdlog::info("audit retention pruned {} record(s)", *audited);
    RecordRetention(*deps.audit, "audit", absl::StrCat("pruned ", *audited, " audit record(s)"));
  }
  auto history = release::PruneHistory(db, clock);
  if (!history.ok()) {
    spdlog::warn("retention failed: {}", std::string(history.status().message()));
  } else if (history->releases_deleted + history->events_deleted > 0) {
    spdlog::info("retention pruned {} release(s) and {} run event(s)", history->releases_deleted,
                 history->events_deleted);
    RecordRetention(*deps.audit, "releases",
                    absl::StrCat("pruned ", history->releases_deleted, " release(s) and ",
                                 history->events_deleted, " run event(s)"));
  }
  if (auto log = db.PruneChangeLog(100000); !log.ok()) {
    spdlog::warn("pruning the change log failed: {}", std::string(log.status().message()));
  }
  // Calls passed between replicas whose caller went away before removing them.
  const int64_t stale_ms = absl::ToUnixMillis(clock.Now() - absl::Hours(1));
  absl::Status calls = db.Write([&](storage::Transaction& tx) {
    return storage::RunCommandRepository().DeleteOlder(tx, stale_ms).status();
  });
  if (!calls.ok()) {
    spdlog::warn("pruning passed-on run calls failed: {}", std::string(calls.message()));
  }
}

}  // namespace slipway::server
