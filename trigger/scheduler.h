// Schedule triggers and freeze windows. The scheduler is a step function: Tick() starts the run
// of every schedule trigger whose time has come (once, even after a restart or a long pause:
// missed times fire once, then the next time is computed from now), and a thread drives it.
#ifndef SLIPWAY_TRIGGER_SCHEDULER_H_
#define SLIPWAY_TRIGGER_SCHEDULER_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "release/executor.h"
#include "storage/database.h"

namespace slipway::trigger {

// If `stage` is inside one of its freeze windows at `now`, the window's reason (or "freeze
// window"); nullopt otherwise.
std::optional<std::string> ActiveFreeze(const v1::Stage& stage, absl::Time now);

struct SchedulerReport {
  int started = 0;
  // Fires that started nothing: held or frozen stages, failed flow checks.
  int skipped = 0;
};

// Thread-safe (Tick serializes itself through the store). Does not own its collaborators.
class Scheduler {
 public:
  Scheduler(storage::Database* db, release::Executor* executor, const Clock* clock)
      : db_(db), executor_(executor), clock_(clock) {}

  absl::StatusOr<SchedulerReport> Tick();

 private:
  storage::Database* db_;
  release::Executor* executor_;
  const Clock* clock_;
};

}  // namespace slipway::trigger

#endif  // SLIPWAY_TRIGGER_SCHEDULER_H_
