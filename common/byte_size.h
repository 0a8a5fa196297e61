// Sizes as written in flags and config files: "1048576", "512KiB", "25MiB", "1GiB", "10MB".
#ifndef SLIPWAY_COMMON_BYTE_SIZE_H_
#define SLIPWAY_COMMON_BYTE_SIZE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace slipway {

// A whole number of bytes, optionally followed by a unit: B; kB, MB, GB (powers of 1000);
// KiB, MiB, GiB (powers of 1024). Letters compare case-blind, so "25mib" is 25 MiB.
// INVALID_ARGUMENT for anything else, negative numbers, or more than 2^62 bytes.
absl::StatusOr<int64_t> ParseByteSize(std::string_view text);

// The size in the largest binary unit that divides it: 26214400 -> "25MiB", 1000 -> "1000B".
std::string FormatByteSize(int64_t bytes);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_BYTE_SIZE_H_
