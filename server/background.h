// The threads that drive slipwayd's step functions in production: the run executor's Tick and
// the process driver's Supervise. Each stops (and joins) when destroyed.
#ifndef SLIPWAY_SERVER_BACKGROUND_H_
#define SLIPWAY_SERVER_BACKGROUND_H_

#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "preview/preview_manager.h"
#include "release/executor.h"

namespace slipway::server {

// Calls Executor::Tick after every piece of new work and when timed work is due.
class ExecutorThread {
 public:
  explicit ExecutorThread(release::Executor* executor, const Clock* clock);
  ~ExecutorThread();

 private:
  release::Executor* executor_;
  const Clock* clock_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Calls PreviewManager::Tick after every change and when timed work is due, and Reconcile
// every `reconcile_interval` (never, if zero).
class PreviewThread {
 public:
  PreviewThread(preview::PreviewManager* previews, const Clock* clock,
                absl::Duration reconcile_interval);
  ~PreviewThread();

 private:
  preview::PreviewManager* previews_;
  const Clock* clock_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

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
