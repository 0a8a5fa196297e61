#include "common/url_credentials.h"

namespace slipway {
namespace {

constexpr std::string_view kMask = "***";

bool EndsAuthority(char c) {
  return c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' || c == '<' || c == '>' ||
         c == '`' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\\';
}

// Calls `on(begin, end)` for the user-info [begin, end) of each URL in `text` that has one
// other than the mask itself.
template <typename F>
void ForEachUserInfo(std::string_view text, F on) {
  size_t pos = 0;
  while ((pos = text.find("://", pos)) != std::string_view::npos) {
    size_t begin = pos + 3;
    size_t end = begin;
    size_t at = std::string_view::npos;
    while (end < text.size() && !EndsAuthority(text[end])) {
      if (text[end] == '@') at = end;
      ++end;
    }
    if (at != std::string_view::npos && at > begin && text.substr(begin, at - begin) != kMask) {
      on(begin, at);
    }
    pos = end;
  }
}

}  // namespace

bool HasUrlCredentials(std::string_view text) {
  if (text.find('@') == std::string_view::npos) return false;
  bool found = false;
  ForEachUserInfo(text, [&](size_t, size_t) { found = true; });
  return found;
}

std::string MaskUrlCredentials(std::string_view text) {
  if (text.find('@') == std::string_view::npos) return std::string(text);
  std::string out;
  size_t copied = 0;
  ForEachUserInfo(text, [&](size_t begin, size_t end) {
    out.append(text.substr(copied, begin - copied));
    out.append(kMask);
    copied = end;
  });
  out.append(text.substr(copied));
  return out;
}

}  // namespace slipway
