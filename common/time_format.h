// Timestamps as the API shows them: RFC 3339 in UTC with millisecond precision.
#ifndef SLIPWAY_COMMON_TIME_FORMAT_H_
#define SLIPWAY_COMMON_TIME_FORMAT_H_

#include <string>

#include "absl/time/time.h"

namespace slipway {

std::string FormatRfc3339(absl::Time t);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_TIME_FORMAT_H_
