// Files and folders only slipwayd's user can read, whatever the umask: the data dir, the
// database and its WAL, process records and logs, repository mirrors, endpoints.json. Secrets
// and tokens live in some of them, and a backup or copy keeps the modes.
#ifndef SLIPWAY_COMMON_PRIVATE_FILES_H_
#define SLIPWAY_COMMON_PRIVATE_FILES_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace slipway {

// Creates `path` and any missing parents; `path` itself ends up 0700 (an existing one is
// narrowed to it). FAILED_PRECONDITION naming the path when it cannot be made.
absl::Status MakePrivateDir(const std::string& path);

// Creates `path` empty if missing; either way it ends up 0600. FAILED_PRECONDITION naming
// the path otherwise.
absl::Status MakePrivateFile(const std::string& path);

// Writes `contents` to `path` through a 0600 temporary file renamed over it, so readers see
// the old or the new contents, never a part. INTERNAL naming the path on failure.
absl::Status WritePrivateFile(const std::string& path, std::string_view contents);

// The permission bits of `path` that give group or others any access (mode & 077), or 0 when
// there are none or the path does not exist.
unsigned OpenToOthers(const std::string& path);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_PRIVATE_FILES_H_
