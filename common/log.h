// Process-wide logging setup for the binaries (slipwayd, benchmarks). Code logs through spdlog
// directly (`spdlog::info(...)`); this file only chooses the format. Nothing that is logged may
// contain a token, a secret or a raw webhook body.
#ifndef SLIPWAY_COMMON_LOG_H_
#define SLIPWAY_COMMON_LOG_H_

#include <string_view>

#include "absl/status/status.h"

namespace slipway {

// `format` is "text" (human lines) or "json" (one JSON object per line with time, level and
// msg); `level` the least severe level written: "debug", "info", "warn" or "error". Logs go to
// stderr. INVALID_ARGUMENT naming --log-format or --log-level for anything else.
absl::Status SetUpLogging(std::string_view format, std::string_view level = "info");

}  // namespace slipway

#endif  // SLIPWAY_COMMON_LOG_H_
