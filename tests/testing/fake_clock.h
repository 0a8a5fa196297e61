// A Clock that moves only when a test tells it to.
#ifndef SLIPWAY_TESTS_TESTING_FAKE_CLOCK_H_
#define SLIPWAY_TESTS_TESTING_FAKE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace slipway::testing {

// Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'790'000'000)) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  // Never blocks: moves the time by `d` and counts the call.
  void Sleep(absl::Duration d) const override {
    absl::MutexLock lock(&mu_);
    now_ += d;
    ++sleeps_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  int sleeps() const {
    absl::MutexLock lock(&mu_);
    return sleeps_;
  }

 private:
  mutable absl::Mutex mu_;
  mutable absl::Time now_ ABSL_GUARDED_BY(mu_);
  mutable int sleeps_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace slipway::testing

#endif  // SLIPWAY_TESTS_TESTING_FAKE_CLOCK_H_
