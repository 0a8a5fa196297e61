#include "common/names.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace slipway {

absl::Status CheckDnsLabel(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("must not be empty");
  if (name.size() > 63) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", std::string(name.substr(0, 20)), "...\" is ", name.size(),
                     " characters; at most 63 are allowed"));
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", std::string(name), "\" is not a DNS label: only a-z, 0-9 and '-' are allowed"));
    }
  }
  if (name.front() == '-' || name.back() == '-') {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", std::string(name), "\" is not a DNS label: it must not start or end with '-'"));
  }
  return absl::OkStatus();
}

}  // namespace slipway
