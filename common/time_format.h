// Timestamps as the API shows them: RFC 3339 in UTC with millisecond precision.
#ifndef SLIPWAY_COMMON_TIME_FORMAT_H_
#define SLIPWAY_COMMON_TIME_FORMAT_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace slipway {

std::string FormatRfc3339(absl::Time t);
// The time an RFC 3339 timestamp names; nullopt when `text` is empty or not one.
std::optional<absl::Time> ParseRfc3339(std::string_view text);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_TIME_FORMAT_H_
