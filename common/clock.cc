#include "common/clock.h"

#include "absl/time/clock.h"

namespace slipway {

absl::Time RealClock::Now() const { return absl::Now(); }

void RealClock::Sleep(absl::Duration d) const { absl::SleepFor(d); }

}  // namespace slipway
