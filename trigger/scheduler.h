// Schedule triggers and freeze windows. The scheduler is a step function: Tick() starts the run
// of every schedule trigger whose time has come (once, even after a restart or a long pause:
// missed times fire once, then the next time is computed from now), and a thread drives it.
#ifndef SLIPWAY_TRIGGER_SCHEDULER_H_
#define SLIPWAY_TRIGGER_SCHEDULER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/cron.h"
#include "release/executor.h"
#include "storage/audit_log.h"
#include "storage/database.h"
#include "trigger/due_index.h"

namespace slipway::trigger {

// If `stage` is inside one of its freeze windows at `now`, the window's reason (or "freeze
// window"); nullopt otherwise.
std::optional<std::string> ActiveFreeze(const v1::Stage& stage, absl::Time now);

struct SchedulerReport {
  int started = 0;
  // Fires that started nothing: held or frozen stages, failed flow checks.
  int skipped = 0;
};

// Thread-safe: Tick serializes itself. Does not own its collaborators.
//
// Keeps an index of every schedule trigger and its next fire time, earliest first. The index is
// built once from the store and then updated from the database's pipeline change feed, so an
// idle Tick reads nothing: its work grows with the pipelines that changed and the schedules
// that are due, not with the number of pipelines.
class Scheduler {
 public:
  Scheduler(storage::Database* db, release::Executor* executor, const Clock* clock,
            storage::AuditLog* audit = nullptr)
      : db_(db), executor_(executor), clock_(clock), audit_(audit) {}

  absl::StatusOr<SchedulerReport> Tick();
  // Builds the index again from the store at the next Tick: this process has just taken the
  // work over from another replica, whose changes its index may not hold.
  void Resync() {
    absl::MutexLock lock(&mu_);
    feed_next_ = 0;
  }

  // When the earliest indexed schedule is due, if any (as of the last Tick).
  std::optional<absl::Time> NextFire();
  // Number of schedule triggers in the index.
  int Indexed();

 private:
  struct Entry {
    std::string pipeline;
    std::string stage;
    int trigger = 0;
    std::string cron_text;
    CronSchedule cron;
    // Unix ms of the next fire; kNever when the expression never matches again.
    int64_t next_ms = 0;
  };
  // Brings the index up to date with the pipelines changed since the last call.
  absl::Status Sync() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fires the schedule `key`, which is due at `now`.
  absl::Status Fire(const std::string& key, absl::Time now, SchedulerReport& report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  storage::Database* db_;
  release::Executor* executor_;
  const Clock* clock_;
  storage::AuditLog* audit_;  // may be null

  absl::Mutex mu_;
  uint64_t feed_next_ ABSL_GUARDED_BY(mu_) = 0;
  DueIndex<Entry> index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slipway::trigger

#endif  // SLIPWAY_TRIGGER_SCHEDULER_H_
