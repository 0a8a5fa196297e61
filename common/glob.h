// Branch, tag and path globs: `*` matches any run of characters except '/', `**` matches
// across '/', `?` matches one character except '/', `[abc]`, `[a-z]` and `[!a-z]` match one
// character of (or not of) a set. Everything else matches itself.
#ifndef SLIPWAY_COMMON_GLOB_H_
#define SLIPWAY_COMMON_GLOB_H_

#include <string_view>

#include "absl/status/status.h"

namespace slipway {

// OK if `pattern` is a well-formed glob; INVALID_ARGUMENT (e.g. unterminated '[') otherwise.
absl::Status CheckGlob(std::string_view pattern);

// True if `text` matches the whole of `pattern`. A malformed pattern matches nothing.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_GLOB_H_
