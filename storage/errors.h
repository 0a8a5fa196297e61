// Errors that start in storage/: a missing row, a stale etag, a duplicate name.
#ifndef SLIPWAY_STORAGE_ERRORS_H_
#define SLIPWAY_STORAGE_ERRORS_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace slipway::storage {

// NOT_FOUND: `pipeline "shop" not found`.
inline absl::Status NotFound(std::string_view kind, std::string_view name) {
  return absl::NotFoundError(
      absl::StrCat(std::string(kind), " \"", std::string(name), "\" not found"));
}

// ALREADY_EXISTS: `pipeline "shop" already exists`.
inline absl::Status AlreadyExists(std::string_view kind, std::string_view name) {
  return absl::AlreadyExistsError(
      absl::StrCat(std::string(kind), " \"", std::string(name), "\" already exists"));
}

// ABORTED: the caller read an older version than the one stored.
inline absl::Status EtagMismatch(std::string_view kind, std::string_view name,
                                 std::string_view given) {
  return absl::AbortedError(absl::StrCat(
      std::string(kind), " \"", std::string(name), "\" was changed since it was read (etag \"",
      std::string(given), "\" is stale); get it again and retry"));
}

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_ERRORS_H_
