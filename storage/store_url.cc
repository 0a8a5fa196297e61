#include "storage/store_url.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace slipway::storage {

absl::StatusOr<DatabaseOptions> StoreOptions(std::string_view store,
                                             const std::string& default_sqlite_path) {
  DatabaseOptions options;
  const absl::string_view s(store.data(), store.size());
  if (s.empty()) {
    options.path = default_sqlite_path;
  } else if (absl::StartsWith(s, "sqlite:")) {
    options.path = std::string(s.substr(7));
    if (options.path.empty()) return absl::InvalidArgumentError("--store: sqlite: needs a path");
  } else if (absl::StartsWith(s, "postgres://") || absl::StartsWith(s, "postgresql://")) {
    bool pooled = false;
    if (auto checked = WithoutPooler(store, &pooled); !checked.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--store: ", checked.status().message()));
    }
    options.postgres = std::string(s);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--store: \"", MaskConnectionString(store),
                     "\" is not a store; want sqlite:PATH or postgres://user@host/database"));
  }
  return options;
}

std::string MaskConnectionString(std::string_view conninfo) {
  std::string out(conninfo);
  const size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const size_t start = scheme + 3;
    const size_t path = out.find_first_of("/?", start);
    const size_t at = out.rfind('@', path == std::string::npos ? out.size() : path);
    if (at != std::string::npos && at >= start) {
      const size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=… as a key=value pair or a URI query parameter.
  size_t pos = 0;
  while ((pos = out.find("password", pos)) != std::string::npos) {
    size_t eq = pos + 8;
    while (eq < out.size() && out[eq] == ' ') ++eq;
    if (eq >= out.size() || out[eq] != '=') {
      pos = eq;
      continue;
    }
    size_t begin = eq + 1;
    while (begin < out.size() && out[begin] == ' ') ++begin;
    size_t end = begin;
    if (end < out.size() && out[end] == '\'') {
      ++end;
      while (end < out.size() && out[end] != '\'') end += out[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, out.size());
    } else {
      while (end < out.size() && out[end] != ' ' && out[end] != '&') ++end;
    }
    out.replace(begin, end - begin, "***");
    pos = begin + 3;
  }
  return out;
}

absl::StatusOr<std::string> WithoutPooler(std::string_view conninfo_std, bool* transaction_pooler) {
  *transaction_pooler = false;
  const absl::string_view conninfo(conninfo_std.data(), conninfo_std.size());
  const bool uri =
      absl::StartsWith(conninfo, "postgres://") || absl::StartsWith(conninfo, "postgresql://");
  // URI: &-separated parameters after '?'. key=value form: space-separated pairs.
  const size_t query = uri ? conninfo.find('?') : 0;
  if (query == absl::string_view::npos) return std::string(conninfo);
  const char separator = uri ? '&' : ' ';
  std::string out(conninfo.substr(0, uri ? query : 0));
  std::vector<absl::string_view> kept;
  for (absl::string_view part :
       absl::StrSplit(conninfo.substr(uri ? query + 1 : 0), absl::ByChar(separator))) {
    if (!absl::StartsWith(part, "pooler=")) {
      kept.push_back(part);
      continue;
    }
    const absl::string_view value = part.substr(7);
    if (value == "transaction") {
      *transaction_pooler = true;
    } else if (value != "none" && value != "session") {
      return absl::InvalidArgumentError(absl::StrCat(
          "store URL: pooler=", value, " is not known; want transaction, session or none"));
    }
  }
  while (!kept.empty() && kept.back().empty()) kept.pop_back();
  if (uri && !kept.empty()) out += '?';
  absl::StrAppend(&out, absl::StrJoin(kept, std::string(1, separator)));
  return out;
}

std::string StoreDisplayName(std::string_view store, const std::string& default_sqlite_path) {
  if (store.empty()) return default_sqlite_path;
  return MaskConnectionString(store);
}

}  // namespace slipway::storage
