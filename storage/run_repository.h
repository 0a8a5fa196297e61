// Stored runs (one row per run: the whole Run message plus indexed columns), their event log
// (for WatchRun), releases, and the current state of each stage's resources.
#ifndef SLIPWAY_STORAGE_RUN_REPOSITORY_H_
#define SLIPWAY_STORAGE_RUN_REPOSITORY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "slipway/v1/release.pb.h"
#include "storage/database.h"

namespace slipway::storage {

struct RunFilter {
  std::string pipeline;              // empty: any
  std::string stage;                 // empty: any
  std::vector<v1::RunState> states;  // empty: any
  // Only runs created before the run with this sequence number (0: no bound).
  int64_t before_seq = 0;
  int limit = 50;
};

// Stateless; every method runs inside the caller's transaction.
class RunRepository {
 public:
  // Stores a new run and returns its creation sequence number (1, 2, …).
  absl::StatusOr<int64_t> Insert(Transaction& tx, const v1::Run& run) const;
  // Insert for a caller that needs no sequence number: sent without waiting (RunLater).
  absl::Status Add(Transaction& tx, const v1::Run& run) const;
  // NOT_FOUND for an unknown id.
  absl::Status Update(Transaction& tx, const v1::Run& run) const;
  // Stores the run as it is now, new or not; sent without waiting (RunLater).
  absl::Status Put(Transaction& tx, const v1::Run& run) const;
  absl::StatusOr<v1::Run> Get(Transaction& tx, std::string_view id) const;
  absl::StatusOr<int64_t> SequenceOf(Transaction& tx, std::string_view id) const;
  // Newest first.
  absl::StatusOr<std::vector<v1::Run>> List(Transaction& tx, const RunFilter& filter) const;
  // Runs that have not ended, oldest first; of one stage if `pipeline` and `stage` are set.
  absl::StatusOr<std::vector<v1::Run>> ListActive(Transaction& tx, std::string_view pipeline = "",
                                                  std::string_view stage = "") const;

  absl::Status AppendEvent(Transaction& tx, const v1::RunEvent& event) const;
  // The same for several events, a few statements for all of them.
  absl::Status AppendEvents(Transaction& tx, absl::Span<const v1::RunEvent> events) const;
  // Events of `run_id` with sequence > `after`, in order, at most `limit`.
  absl::StatusOr<std::vector<v1::RunEvent>> EventsAfter(Transaction& tx, std::string_view run_id,
                                                        int64_t after, int limit) const;
  // Deletes the run's event log; returns how many events were deleted.
  absl::StatusOr<int64_t> DeleteEvents(Transaction& tx, std::string_view run_id) const;
};

class ReleaseRepository {
 public:
  // Stores `release` under the next number of its stage and returns that number.
  absl::StatusOr<int64_t> Insert(Transaction& tx, v1::Release release) const;
  // Stores `releases` in order, each under the next number of its stage and with the stage's
  // resources as they stand (StageResourceRepository::List), and returns their numbers in that
  // order. The reads for every stage named share one round trip (Statement::Prefetch).
  absl::StatusOr<std::vector<int64_t>> InsertWithResources(Transaction& tx,
                                                           std::vector<v1::Release> releases) const;
  absl::StatusOr<v1::Release> Get(Transaction& tx, std::string_view pipeline,
                                  std::string_view stage, int64_t number) const;
  // The highest-numbered release of the stage, if any.
  absl::StatusOr<std::optional<v1::Release>> Latest(Transaction& tx, std::string_view pipeline,
                                                    std::string_view stage) const;
  // Newest first, numbers below `before` (0: no bound).
  absl::StatusOr<std::vector<v1::Release>> List(Transaction& tx, std::string_view pipeline,
                                                std::string_view stage, int64_t before,
                                                int limit) const;
  // Deletes releases numbered `up_to` or lower, except those in `keep` (at most 4 numbers).
  // Returns how many were deleted.
  absl::StatusOr<int64_t> DeleteUpTo(Transaction& tx, std::string_view pipeline,
                                     std::string_view stage, int64_t up_to,
                                     const std::vector<int64_t>& keep) const;
};

class StageHoldRepository {
 public:
  absl::StatusOr<std::optional<v1::StageHold>> Get(Transaction& tx, std::string_view pipeline,
                                                   std::string_view stage) const;
  absl::Status Put(Transaction& tx, const v1::StageHold& hold) const;
  // Returns the hold that was removed, if any.
  absl::StatusOr<std::optional<v1::StageHold>> Delete(Transaction& tx, std::string_view pipeline,
                                                      std::string_view stage) const;
  // Every hold (for retention, and for the webhook intake, which reads them once for all the
  // stages a delivery may start).
  absl::StatusOr<std::vector<v1::StageHold>> List(Transaction& tx) const;
  // The same, running `alongside` (other reads of the transaction) while the holds are on their
  // way: they share one round trip (Statement::Prefetch).
  absl::StatusOr<std::vector<v1::StageHold>> List(
      Transaction& tx, absl::FunctionRef<absl::Status()> alongside) const;
};

class StageResourceRepository {
 public:
  absl::Status Put(Transaction& tx, std::string_view pipeline, std::string_view stage,
                   const v1::ResourceState& state) const;
  // nullopt if the resource was never deployed.
  absl::StatusOr<std::optional<v1::ResourceState>> Get(Transaction& tx, std::string_view pipeline,
                                                       std::string_view stage,
                                                       std::string_view resource) const;
  // In name order.
  absl::StatusOr<std::vector<v1::ResourceState>> List(Transaction& tx, std::string_view pipeline,
                                                      std::string_view stage) const;
  // Forgets a resource (once it is torn down). OK if it was not recorded.
  absl::Status Delete(Transaction& tx, std::string_view pipeline, std::string_view stage,
                      std::string_view resource) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_RUN_REPOSITORY_H_
