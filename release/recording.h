// Release and hold recording: what a run that ends leaves in the stage's history. A successful
// run that changed a workload (deploy, promote) records a release: the stage's workloads as
// they stand after it. A successful rollback also holds the stage, pinned to the release it
// records. Preview runs record neither: a preview's history is its runs.
#ifndef SLIPWAY_RELEASE_RECORDING_H_
#define SLIPWAY_RELEASE_RECORDING_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "slipway/v1/release.pb.h"
#include "storage/database.h"

namespace slipway::release {

// The release an ended run records (its resources are filled in when written), if any.
// `changed_workload`: a deploy or promote node of the run succeeded.
std::optional<v1::Release> ReleaseOf(const v1::Run& run, bool changed_workload,
                                     const google::protobuf::Timestamp& now);
// The hold a successful rollback places (pinned when its release is written), if any.
std::optional<v1::StageHold> HoldAfter(const v1::Run& run);

// Writes `releases`, each with its stage's current workloads, and the hold of each run in
// `holds` pinned to its release. Fills `release_numbers` (run id → release number).
absl::Status RecordReleases(storage::Transaction& tx, const std::vector<v1::Release>& releases,
                            const std::map<std::string, v1::StageHold>& holds,
                            const google::protobuf::Timestamp& now,
                            std::map<std::string, int64_t>& release_numbers);

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_RECORDING_H_
