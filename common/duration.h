// Durations as written in pipeline files: "90s", "5m", "1h30m", "72h", "250ms", "1.5s".
#ifndef SLIPWAY_COMMON_DURATION_H_
#define SLIPWAY_COMMON_DURATION_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace slipway {

// Returns the duration, or INVALID_ARGUMENT for anything that is not a non-negative sequence
// of <number><unit> with units ms, s, m, h (and d for days). A number may have a fraction of up
// to nine digits ("1.5s", and "0.250s" as protobuf's JSON mapping prints a Duration).
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_DURATION_H_
