#include "common/duration.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace slipway {

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", std::string(text), "\" is not a duration (examples: \"90s\", \"5m\", \"1h30m\")"));
  };
  if (text.empty()) return bad();
  absl::Duration total = absl::ZeroDuration();
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    int64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (value > 1'000'000'000) return bad();
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) return bad();
    size_t unit_start = i;
    while (i < text.size() && text[i] >= 'a' && text[i] <= 'z') ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit == "ms") {
      total += absl::Milliseconds(value);
    } else if (unit == "s") {
      total += absl::Seconds(value);
    } else if (unit == "m") {
      total += absl::Minutes(value);
    } else if (unit == "h") {
      total += absl::Hours(value);
    } else if (unit == "d") {
      total += absl::Hours(24 * value);
    } else {
      return bad();
    }
  }
  return total;
}

}  // namespace slipway
