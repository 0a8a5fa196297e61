#include "release/recording.h"

#include "common/status_macros.h"
#include "storage/run_repository.h"

namespace slipway::release {

std::optional<v1::Release> ReleaseOf(const v1::Run& run, bool changed_workload,
                                     const google::protobuf::Timestamp& now) {
  if (run.state() != v1::RUN_STATE_SUCCEEDED || !changed_workload ||
      run.kind() == v1::RUN_KIND_PREVIEW || run.kind() == v1::RUN_KIND_PREVIEW_TEARDOWN) {
    return std::nullopt;
  }
  v1::Release release;
  release.set_pipeline(run.pipeline());
  release.set_stage(run.stage());
  release.set_run_id(run.id());
  *release.mutable_trigger() = run.trigger();
  release.set_pipeline_revision(run.pipeline_revision());
  *release.mutable_create_time() = now;
  release.set_rollback_of(run.rollback_to());
  return release;
}

std::optional<v1::StageHold> HoldAfter(const v1::Run& run) {
  if (run.state() != v1::RUN_STATE_SUCCEEDED || run.kind() != v1::RUN_KIND_ROLLBACK) {
    return std::nullopt;
  }
  v1::StageHold hold;
  hold.set_pipeline(run.pipeline());
  hold.set_stage(run.stage());
  hold.set_reason(run.trigger().reason());
  hold.set_held_by(run.trigger().actor());
  hold.set_run_id(run.id());
  return hold;
}

absl::Status RecordReleases(storage::Transaction& tx, const std::vector<v1::Release>& releases,
                            const std::map<std::string, v1::StageHold>& holds,
                            const google::protobuf::Timestamp& now,
                            std::map<std::string, int64_t>& release_numbers) {
  // Every stage's next number and resources are read in one round trip.
  ASSIGN_OR_RETURN(std::vector<int64_t> numbers,
                   storage::ReleaseRepository().InsertWithResources(tx, releases));
  for (size_t i = 0; i < releases.size(); ++i) {
    const int64_t number = numbers[i];
    release_numbers[releases[i].run_id()] = number;
    if (auto hold = holds.find(releases[i].run_id()); hold != holds.end()) {
      v1::StageHold h = hold->second;
      h.set_pinned_release(number);
      *h.mutable_hold_time() = now;
      RETURN_IF_ERROR(storage::StageHoldRepository().Put(tx, h));
    }
  }
  return absl::OkStatus();
}

}  // namespace slipway::release
