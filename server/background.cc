#include "server/background.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace slipway::server {

ExecutorThread::ExecutorThread(release::Executor* executor, const Clock* clock)
    : executor_(executor), clock_(clock) {
  thread_ = std::thread([this] {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
      }
      if (absl::Status s = executor_->Tick(); !s.ok()) {
        spdlog::error("run executor: {}", std::string(s.message()));
      }
      absl::Duration wait = absl::Milliseconds(250);
      if (auto next = executor_->NextWake(); next.has_value()) {
        wait = std::clamp(*next - clock_->Now(), absl::ZeroDuration(), wait);
      }
      executor_->WaitForWork(wait);
    }
  });
}

ExecutorThread::~ExecutorThread() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

PreviewThread::PreviewThread(preview::PreviewManager* previews, const Clock* clock,
                             absl::Duration reconcile_interval)
    : previews_(previews), clock_(clock) {
  thread_ = std::thread([this, reconcile_interval] {
    absl::Time next_reconcile = clock_->Now() + reconcile_interval;
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
      }
      if (absl::Status s = previews_->Tick(); !s.ok()) {
        spdlog::error("previews: {}", std::string(s.message()));
      }
      if (reconcile_interval > absl::ZeroDuration() && clock_->Now() >= next_reconcile) {
        preview::ReconcileReport r = previews_->Reconcile();
        if (r.refused) {
          spdlog::warn("previews: {}", r.message);
        } else if (r.deleted + r.orphaned > 0) {
          spdlog::info("previews: {}", r.message);
        }
        next_reconcile = clock_->Now() + reconcile_interval;
      }
      absl::Duration wait = absl::Milliseconds(500);
      if (auto next = previews_->NextWake(); next.has_value()) {
        wait = std::clamp(*next - clock_->Now(), absl::ZeroDuration(), wait);
      }
      previews_->WaitForWork(wait);
    }
  });
}

PreviewThread::~PreviewThread() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  previews_->Notify();
  thread_.join();
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
