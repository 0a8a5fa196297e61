#include "common/byte_size.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace slipway {

absl::StatusOr<int64_t> ParseByteSize(std::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", std::string(text), "\" is not a size (write it like 1048576, 512KiB, 25MiB or 1GiB)"));
  };
  size_t digits = 0;
  while (digits < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  if (digits == 0 || digits > 18) return bad();
  int64_t number = 0;
  for (size_t i = 0; i < digits; ++i) number = number * 10 + (text[i] - '0');
  std::string unit = absl::AsciiStrToLower(std::string(text.substr(digits)));
  int64_t scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "kb") scale = 1000;
  else if (unit == "mb") scale = 1000 * 1000;
  else if (unit == "gb") scale = 1000 * 1000 * 1000;
  else if (unit == "kib") scale = int64_t{1} << 10;
  else if (unit == "mib") scale = int64_t{1} << 20;
  else if (unit == "gib") scale = int64_t{1} << 30;
  else return bad();
  if (number > (int64_t{1} << 62) / scale) return bad();
  return number * scale;
}

std::string FormatByteSize(int64_t bytes) {
  if (bytes > 0 && bytes % (int64_t{1} << 30) == 0) return absl::StrCat(bytes >> 30, "GiB");
  if (bytes > 0 && bytes % (int64_t{1} << 20) == 0) return absl::StrCat(bytes >> 20, "MiB");
  if (bytes > 0 && bytes % (int64_t{1} << 10) == 0) return absl::StrCat(bytes >> 10, "KiB");
  return absl::StrCat(bytes, "B");
}

}  // namespace slipway
