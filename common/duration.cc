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
    // A fraction ("1.5s", "0.250s": protobuf's JSON form of a Duration), up to nine digits.
    int64_t fraction = 0;
    int64_t scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      size_t fraction_start = i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (i - fraction_start >= 9) return bad();
        fraction = fraction * 10 + (text[i] - '0');
        scale *= 10;
        ++i;
      }
      if (i == fraction_start) return bad();
    }
    size_t unit_start = i;
    while (i < text.size() && text[i] >= 'a' && text[i] <= 'z') ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    absl::Duration one;
    if (unit == "ms") {
      one = absl::Milliseconds(1);
    } else if (unit == "s") {
      one = absl::Seconds(1);
    } else if (unit == "m") {
      one = absl::Minutes(1);
    } else if (unit == "h") {
      one = absl::Hours(1);
    } else if (unit == "d") {
      one = absl::Hours(24);
    } else {
      return bad();
    }
    total += one * value + one * fraction / scale;
  }
  return total;
}

}  // namespace slipway
