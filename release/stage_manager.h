// Stage-level operations: one-call rollback from the stored release history, holds, diffs
// between releases, and a stage's status. Rollback runs through the Executor like any run.
#ifndef SLIPWAY_RELEASE_STAGE_MANAGER_H_
#define SLIPWAY_RELEASE_STAGE_MANAGER_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "release/executor.h"
#include "slipway/v1/release_service.pb.h"
#include "storage/database.h"

namespace slipway::release {

// What changed from release `from` to release `to`, resource by resource.
v1::ReleaseDiff DiffReleases(const v1::Release& from, const v1::Release& to);

// Thread-safe. Does not own its collaborators.
class StageManager {
 public:
  StageManager(storage::Database* db, Executor* executor, const Clock* clock)
      : db_(db), executor_(executor), clock_(clock) {}

  // Starts a ROLLBACK run that re-applies the target release's snapshot (deploys only) and,
  // when it succeeds, records release N+1 with rollback_of = target and holds the stage. The
  // default target is the newest release before the current one. FAILED_PRECONDITION if the
  // stage has no release to go back to or the target is already current; NOT_FOUND for an
  // unknown release. With dry_run: only the diff, nothing changes.
  absl::StatusOr<v1::RollbackStageResponse> Rollback(const v1::RollbackStageRequest& request,
                                                     const std::string& caller);
  absl::StatusOr<v1::ReleaseDiff> Diff(const v1::DiffReleasesRequest& request);
  // Holds the stage on its current release (replacing any hold).
  absl::StatusOr<v1::StageHold> Hold(const v1::HoldStageRequest& request,
                                     const std::string& caller);
  absl::StatusOr<v1::ReleaseHoldResponse> ReleaseHold(const v1::ReleaseHoldRequest& request);
  absl::StatusOr<v1::StageStatus> Status(const v1::GetStageRequest& request);

 private:
  storage::Database* db_;
  Executor* executor_;
  const Clock* clock_;
};

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_STAGE_MANAGER_H_
