// Name rules shared by every resource: DNS labels.
#ifndef SLIPWAY_COMMON_NAMES_H_
#define SLIPWAY_COMMON_NAMES_H_

#include <string_view>

#include "absl/status/status.h"

namespace slipway {

// OK if `name` is 1-63 characters of [a-z0-9-], starting and ending with a letter or digit.
// Otherwise INVALID_ARGUMENT with a message that says what is wrong (without the field path;
// callers add it).
absl::Status CheckDnsLabel(std::string_view name);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_NAMES_H_
