#include "common/glob.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace slipway {
namespace {

// Parses the class starting at pattern[i] == '['. Returns the index after ']' or npos.
size_t ClassEnd(std::string_view pattern, size_t i) {
  size_t j = i + 1;
  if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) ++j;
  if (j < pattern.size() && pattern[j] == ']') ++j;  // a leading ']' is literal
  while (j < pattern.size() && pattern[j] != ']') ++j;
  return j < pattern.size() ? j + 1 : std::string_view::npos;
}

bool ClassMatches(std::string_view cls, char c) {
  // cls is the text between '[' and ']'.
  bool negate = false;
  size_t i = 0;
  if (i < cls.size() && (cls[i] == '!' || cls[i] == '^')) {
    negate = true;
    ++i;
  }
  bool found = false;
  for (; i < cls.size(); ++i) {
    if (i + 2 < cls.size() && cls[i + 1] == '-') {
      if (c >= cls[i] && c <= cls[i + 2]) found = true;
      i += 2;
    } else if (cls[i] == c) {
      found = true;
    }
  }
  return found != negate;
}

bool Match(std::string_view p, std::string_view t) {
  while (!p.empty()) {
    if (p.substr(0, 2) == "**") {
      std::string_view rest = p.substr(2);
      // "**/" also matches zero directories.
      if (!rest.empty() && rest.front() == '/' && Match(rest.substr(1), t)) return true;
      for (size_t k = 0; k <= t.size(); ++k) {
        if (Match(rest, t.substr(k))) return true;
      }
      return false;
    }
    if (p.front() == '*') {
      std::string_view rest = p.substr(1);
      for (size_t k = 0; k <= t.size(); ++k) {
        if (Match(rest, t.substr(k))) return true;
        if (k < t.size() && t[k] == '/') return false;
      }
      return false;
    }
    if (t.empty()) return false;
    if (p.front() == '?') {
      if (t.front() == '/') return false;
    } else if (p.front() == '[') {
      size_t end = ClassEnd(p, 0);
      if (end == std::string_view::npos) return false;
      if (t.front() == '/' || !ClassMatches(p.substr(1, end - 2), t.front())) return false;
      p = p.substr(end);
      t = t.substr(1);
      continue;
    } else if (p.front() != t.front()) {
      return false;
    }
    p = p.substr(1);
    t = t.substr(1);
  }
  return t.empty();
}

}  // namespace

absl::Status CheckGlob(std::string_view pattern) {
  if (pattern.empty()) return absl::InvalidArgumentError("glob must not be empty");
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '[') {
      size_t end = ClassEnd(pattern, i);
      if (end == std::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("glob \"", std::string(pattern), "\" has an unterminated '['"));
      }
      i = end - 1;
    } else if (pattern[i] == '*' && i + 2 < pattern.size() && pattern[i + 1] == '*' &&
               pattern[i + 2] == '*') {
      return absl::InvalidArgumentError(
          absl::StrCat("glob \"", std::string(pattern), "\" has '***'; use '*' or '**'"));
    } else if (static_cast<unsigned char>(pattern[i]) < 0x20) {
      return absl::InvalidArgumentError(
          absl::StrCat("glob \"", std::string(pattern), "\" contains a control character"));
    }
  }
  return absl::OkStatus();
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  if (!CheckGlob(pattern).ok()) return false;
  return Match(pattern, text);
}

}  // namespace slipway
