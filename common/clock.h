// The injected source of time. Domain code asks a Clock for the time, and to wait, and never
// reads the system clock or sleeps itself, so tests run against a FakeClock (tests/testing),
// whose waits only move its time.
#ifndef SLIPWAY_COMMON_CLOCK_H_
#define SLIPWAY_COMMON_CLOCK_H_

#include "absl/time/time.h"

namespace slipway {

// Thread-safe in every implementation.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Waits `d` by this clock: the system clock blocks the calling thread, a fake one advances.
  virtual void Sleep(absl::Duration d) const = 0;
};

// The system clock.
class RealClock final : public Clock {
 public:
  absl::Time Now() const override;
  void Sleep(absl::Duration d) const override;
};

}  // namespace slipway

#endif  // SLIPWAY_COMMON_CLOCK_H_
