// Calls about a run that another replica executes (cancel, approve, reject), passed through the
// store: the replica that took the call writes a command row, the replica executing the run
// applies it on its next pick-up round and writes the answer into the row, and the first reads
// the answer and removes the row. Rows and serialized writes only (database.h): it works through
// a transaction-pooling PgBouncer and needs no connection between replicas.
#ifndef SLIPWAY_STORAGE_RUN_COMMAND_REPOSITORY_H_
#define SLIPWAY_STORAGE_RUN_COMMAND_REPOSITORY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/database.h"

namespace slipway::storage {

struct RunCommand {
  int64_t seq = 0;
  std::string run_id;
  std::string kind;  // "cancel", "approve" or "reject"
  std::string by;    // who asked (the caller as the executor records it)
  std::string node;  // the approval node (approve, reject)
  std::string text;  // the reason (cancel) or the comment (approve, reject)
  int64_t created_ms = 0;
  enum State { kWaiting = 0, kTaken = 1, kAnswered = 2 };
  int state = kWaiting;
  int code = 0;  // absl::StatusCode of the answer
  std::string message;
};

// Stateless; every method runs inside the caller's transaction.
class RunCommandRepository {
 public:
  // Stores a new command; returns its seq.
  absl::StatusOr<int64_t> Add(Transaction& tx, const RunCommand& command) const;
  absl::StatusOr<std::optional<RunCommand>> Get(Transaction& tx, int64_t seq) const;
  // Commands nobody has taken yet, oldest first, at most `limit`.
  absl::StatusOr<std::vector<RunCommand>> Waiting(Transaction& tx, int limit) const;
  // Marks a waiting command as taken (about to be applied): it can no longer be withdrawn.
  // Returns false if it is gone (withdrawn) or was taken already.
  absl::StatusOr<bool> Take(Transaction& tx, int64_t seq) const;
  // Records the answer of a taken command.
  absl::Status Answer(Transaction& tx, int64_t seq, const absl::Status& answer) const;
  // Removes the command; with `only_waiting`, only if nobody has taken it. Returns whether a row
  // was removed.
  absl::StatusOr<bool> Remove(Transaction& tx, int64_t seq, bool only_waiting) const;
  // Forgets commands created before `before_ms` (their caller went away).
  absl::StatusOr<int64_t> DeleteOlder(Transaction& tx, int64_t before_ms) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_RUN_COMMAND_REPOSITORY_H_
