#include "server/background.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace slipway::server {

StepThread::StepThread(StepFunctions f, const Clock* clock) : f_(std::move(f)), clock_(clock) {
  thread_ = std::thread([this] {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
      }
      f_.step();
      absl::Duration wait = f_.max_wait;
      if (auto next = f_.next_wake(); next.has_value()) {
        wait = std::clamp(*next - clock_->Now(), absl::ZeroDuration(), wait);
      }
      f_.wait_for_work(wait);
    }
  });
}

StepThread::~StepThread() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  f_.wake();
  thread_.join();
}

std::unique_ptr<StepThread> ExecutorThread(release::Executor* executor, const Clock* clock) {
  StepFunctions f;
  f.step = [executor] {
    if (absl::Status s = executor->Tick(); !s.ok()) {
      spdlog::error("run executor: {}", std::string(s.message()));
    }
  };
  f.next_wake = [executor] { return executor->NextWake(); };
  f.wait_for_work = [executor](absl::Duration d) { executor->WaitForWork(d); };
  f.wake = [] {};  // WaitForWork returns within max_wait
  return std::make_unique<StepThread>(std::move(f), clock);
}

namespace {

// `step`, run through `owned` when given.
std::function<void()> Owned(OwnedStep owned, std::function<void()> step) {
  if (owned == nullptr) return step;
  return [owned = std::move(owned), step = std::move(step)] { owned(step); };
}

}  // namespace

std::unique_ptr<StepThread> PreviewThread(preview::PreviewManager* previews, const Clock* clock,
                                          absl::Duration reconcile_interval, OwnedStep owned) {
  StepFunctions f;
  auto next_reconcile = std::make_shared<absl::Time>(clock->Now() + reconcile_interval);
  f.step = Owned(std::move(owned), [previews, clock, reconcile_interval, next_reconcile] {
    if (absl::Status s = previews->Tick(); !s.ok()) {
      spdlog::error("previews: {}", std::string(s.message()));
    }
    if (reconcile_interval > absl::ZeroDuration() && clock->Now() >= *next_reconcile) {
      preview::ReconcileReport r = previews->Reconcile();
      if (r.refused) {
        spdlog::warn("previews: {}", r.message);
      } else if (r.deleted + r.orphaned > 0) {
        spdlog::info("previews: {}", r.message);
      }
      *next_reconcile = clock->Now() + reconcile_interval;
    }
  });
  f.next_wake = [previews] { return previews->NextWake(); };
  f.wait_for_work = [previews](absl::Duration d) { previews->WaitForWork(d); };
  f.wake = [previews] { previews->Notify(); };
  f.max_wait = absl::Milliseconds(500);
  return std::make_unique<StepThread>(std::move(f), clock);
}

namespace {

// A wait that Wake cuts short.
class Sleeper {
 public:
  void Wait(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&woken_), d);
    woken_ = false;
  }
  void Wake() {
    absl::MutexLock lock(&mu_);
    woken_ = true;
  }

 private:
  absl::Mutex mu_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

std::unique_ptr<StepThread> SchedulerThread(trigger::Scheduler* scheduler, const Clock* clock,
                                            OwnedStep owned) {
  auto sleeper = std::make_shared<Sleeper>();
  StepFunctions f;
  f.step = Owned(std::move(owned), [scheduler] {
    if (auto r = scheduler->Tick(); !r.ok()) {
      spdlog::warn("scheduler: {}", std::string(r.status().message()));
    }
  });
  f.next_wake = [scheduler, clock]() -> std::optional<absl::Time> {
    std::optional<absl::Time> next = scheduler->NextFire();
    // Still due after a Tick: it failed (a store error); tried again in a second.
    if (next.has_value() && *next <= clock->Now()) return clock->Now() + absl::Seconds(1);
    return next;
  };
  f.wait_for_work = [sleeper](absl::Duration d) { sleeper->Wait(d); };
  f.wake = [sleeper] { sleeper->Wake(); };
  f.max_wait = absl::Seconds(1);
  return std::make_unique<StepThread>(std::move(f), clock);
}

PeriodicThread::PeriodicThread(std::function<void()> step, absl::Duration interval) {
  thread_ = std::thread([this, step = std::move(step), interval] {
    absl::MutexLock lock(&mu_);
    while (!stop_) {
      mu_.Unlock();
      step();
      mu_.Lock();
      mu_.AwaitWithTimeout(absl::Condition(&stop_), interval);
    }
  });
}

PeriodicThread::~PeriodicThread() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

}  // namespace slipway::server
