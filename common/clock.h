// The injected source of time. Domain code asks a Clock for the time and never reads the system
// clock itself, so tests run against a FakeClock (tests/testing) and never sleep.
#ifndef SLIPWAY_COMMON_CLOCK_H_
#define SLIPWAY_COMMON_CLOCK_H_

#include "absl/time/time.h"

namespace slipway {

// Thread-safe in every implementation.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The system clock.
class RealClock final : public Clock {
 public:
  absl::Time Now() const override;
};

}  // namespace slipway

#endif  // SLIPWAY_COMMON_CLOCK_H_
