// The threads that drive slipwayd's step functions in production: the run executor's and the
// preview manager's and the scheduler's Tick, and periodic work (Supervise, polling). Each stops
// (and joins) when destroyed.
#ifndef SLIPWAY_SERVER_BACKGROUND_H_
#define SLIPWAY_SERVER_BACKGROUND_H_

#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "preview/preview_manager.h"
#include "release/executor.h"
#include "trigger/scheduler.h"

namespace slipway::server {

// Drives a step function: calls `step`, then waits until `wait_for_work` returns (it is given
// how long at most: until `next_wake`, capped at `max_wait`), and again, until destroyed.
// `wake` must make a pending `wait_for_work` return.
struct StepFunctions {
  std::function<void()> step;
  std::function<std::optional<absl::Time>()> next_wake;
  std::function<void(absl::Duration)> wait_for_work;
  std::function<void()> wake;
  absl::Duration max_wait = absl::Milliseconds(250);
};

class StepThread {
 public:
  StepThread(StepFunctions f, const Clock* clock);
  ~StepThread();

 private:
  StepFunctions f_;
  const Clock* clock_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Executor::Tick after every piece of new work and when timed work is due.
std::unique_ptr<StepThread> ExecutorThread(release::Executor* executor, const Clock* clock);

// Runs a step of work that one process at a time does, where this process owns it
// (ReplicaSet::RunIfOwner); null runs every step.
using OwnedStep = std::function<void(const std::function<void()>&)>;

// PreviewManager::Tick after every change and when timed work is due, and Reconcile every
// `reconcile_interval` (never, if zero).
std::unique_ptr<StepThread> PreviewThread(preview::PreviewManager* previews, const Clock* clock,
                                          absl::Duration reconcile_interval,
                                          OwnedStep owned = nullptr);

// Scheduler::Tick every second (to pick up pipeline changes) and at each schedule's fire time,
// so a run starts within milliseconds of its minute.
std::unique_ptr<StepThread> SchedulerThread(trigger::Scheduler* scheduler, const Clock* clock,
                                            OwnedStep owned = nullptr);

// Calls `step` every `interval` until destroyed.
class PeriodicThread {
 public:
  PeriodicThread(std::function<void()> step, absl::Duration interval);
  ~PeriodicThread();

 private:
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_BACKGROUND_H_
