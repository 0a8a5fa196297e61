// Admission: what a stage's concurrency policy says about a new run, given the stage's other
// runs that have not ended. A pure function; the executor applies its answer.
#ifndef SLIPWAY_RELEASE_ADMISSION_H_
#define SLIPWAY_RELEASE_ADMISSION_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::release {

// Another run of the stage: queued, or started (running, awaiting approval, cancelling).
struct OtherRun {
  std::string id;
  bool cancelling = false;
};

struct Admission {
  // Not OK: the run is refused (policy forbid with a run in progress), nothing else applies.
  absl::Status refused;
  // The new run waits in the queue, with this reason.
  bool queued = false;
  std::string waiting_reason;
  // Queued runs that end SKIPPED, with the reason (replace, latest).
  std::vector<std::pair<std::string, std::string>> skip;
  // Started runs to cancel, with the reason (replace).
  std::vector<std::pair<std::string, std::string>> cancel;
};

// `stage` names the stage in messages ("shop/prod"); `running` and `queued` are in the
// executor's order (oldest queued first is not assumed: the queue reason names the last).
Admission Admit(v1::ConcurrencyPolicy policy, const std::string& stage, const std::string& run_id,
                const std::vector<OtherRun>& running, const std::vector<OtherRun>& queued);

// The stage's policy, or the request's when it sets one; QUEUE when neither does.
v1::ConcurrencyPolicy EffectivePolicy(v1::ConcurrencyPolicy stage_policy,
                                      const std::optional<v1::ConcurrencyPolicy>& requested);

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_ADMISSION_H_
