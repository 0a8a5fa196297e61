#include "storage/store_url.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/postgres.h"

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
    options.postgres = std::string(s);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--store: \"", MaskConnectionString(store),
                     "\" is not a store; want sqlite:PATH or postgres://user@host/database"));
  }
  return options;
}

std::string StoreDisplayName(std::string_view store, const std::string& default_sqlite_path) {
  if (store.empty()) return default_sqlite_path;
  return MaskConnectionString(store);
}

}  // namespace slipway::storage
