// The operations behind ReleaseService: start, read, list, watch, cancel, approve and retry
// runs; list and read releases. Writes go through the Executor, which owns unfinished runs;
// reads come from the store.
#ifndef SLIPWAY_RELEASE_RUN_MANAGER_H_
#define SLIPWAY_RELEASE_RUN_MANAGER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "release/executor.h"
#include "slipway/v1/release_service.pb.h"
#include "storage/database.h"

namespace slipway::release {

// Thread-safe. Does not own its collaborators.
class RunManager {
 public:
  RunManager(storage::Database* db, Executor* executor) : db_(db), executor_(executor) {}

  // `caller` (the token id) becomes the run's trigger.actor: the initiator, who cannot approve
  // it. NOT_FOUND for an unknown pipeline or stage; see Executor::Start for the rest.
  absl::StatusOr<v1::Run> StartRun(const v1::StartRunRequest& request, const std::string& caller);
  absl::StatusOr<v1::Run> GetRun(const std::string& id);
  absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& request);
  absl::StatusOr<v1::Run> CancelRun(const v1::CancelRunRequest& request, const std::string& caller);
  absl::StatusOr<v1::Run> ApproveRun(const v1::ApproveRunRequest& request,
                                     const std::string& caller, bool reject);
  // A new run of the same pipeline and stage with the same arguments and trigger.
  absl::StatusOr<v1::Run> RetryRun(const v1::RetryRunRequest& request, const std::string& caller);

 private:
  // StartRun, with its request id logged under `method` and `fingerprint`.
  absl::StatusOr<v1::Run> Start(const v1::StartRunRequest& request, const std::string& caller,
                                const std::string& method, const std::string& fingerprint);

 public:
  absl::StatusOr<v1::ListReleasesResponse> ListReleases(const v1::ListReleasesRequest& request);
  absl::StatusOr<v1::Release> GetRelease(const v1::GetReleaseRequest& request);

  // Up to `limit` events of the run after `after`. NOT_FOUND for an unknown run.
  absl::StatusOr<std::vector<v1::RunEvent>> Events(const std::string& run_id, int64_t after,
                                                   int limit);
  // Waits up to `timeout` for events after `after` (or the run's end).
  void WaitForEvents(const std::string& run_id, int64_t after, absl::Duration timeout) {
    executor_->WaitForEvents(run_id, after, timeout);
  }

 private:
  storage::Database* db_;
  Executor* executor_;
};

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_RUN_MANAGER_H_
