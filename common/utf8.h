// UTF-8 checks for text that arrives from outside (HTTP headers, query strings) before it is
// stored in a protobuf string field, which must hold valid UTF-8 to be read back.
#ifndef SLIPWAY_COMMON_UTF8_H_
#define SLIPWAY_COMMON_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace slipway {

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF).
bool IsValidUtf8(std::string_view s);

// `s` with every byte that is not part of a well-formed sequence replaced by U+FFFD, and
// control characters other than tab replaced by a space, cut to at most `max_bytes` bytes on a
// character boundary (with "…" marking the cut).
std::string SanitizeText(std::string_view s, size_t max_bytes);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_UTF8_H_
