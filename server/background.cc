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
