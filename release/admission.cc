#include "release/admission.h"

#include "absl/strings/str_cat.h"

namespace slipway::release {

v1::ConcurrencyPolicy EffectivePolicy(v1::ConcurrencyPolicy stage_policy,
                                      const std::optional<v1::ConcurrencyPolicy>& requested) {
  if (requested.has_value()) return *requested;
  return stage_policy == v1::CONCURRENCY_POLICY_UNSPECIFIED ? v1::CONCURRENCY_POLICY_QUEUE
                                                            : stage_policy;
}

Admission Admit(v1::ConcurrencyPolicy policy, const std::string& stage, const std::string& run_id,
                const std::vector<OtherRun>& running, const std::vector<OtherRun>& queued) {
  Admission out;
  switch (policy) {
    case v1::CONCURRENCY_POLICY_ALLOW:
      break;
    case v1::CONCURRENCY_POLICY_FORBID:
      if (!running.empty() || !queued.empty()) {
        const std::string& first = !running.empty() ? running.front().id : queued.front().id;
        out.refused = absl::FailedPreconditionError(
            absl::StrCat("stage ", stage, " already has run ", first,
                         " in progress and its concurrency policy is forbid; cancel it or wait"));
      }
      break;
    case v1::CONCURRENCY_POLICY_REPLACE:
      for (const OtherRun& q : queued) {
        out.skip.push_back({q.id, absl::StrCat("replaced by run ", run_id)});
      }
      for (const OtherRun& r : running) {
        if (!r.cancelling) out.cancel.push_back({r.id, absl::StrCat("replaced by run ", run_id)});
      }
      if (!running.empty()) {
        out.queued = true;
        out.waiting_reason = absl::StrCat("waiting for run ", running.front().id,
                                          " to be cancelled (policy replace)");
      }
      break;
    case v1::CONCURRENCY_POLICY_LATEST:
      for (const OtherRun& q : queued) {
        out.skip.push_back({q.id, absl::StrCat("superseded by run ", run_id)});
      }
      if (!running.empty()) {
        out.queued = true;
        out.waiting_reason =
            absl::StrCat("waiting for run ", running.front().id, " to finish (policy latest)");
      }
      break;
    case v1::CONCURRENCY_POLICY_QUEUE:
    default:
      if (!running.empty() || !queued.empty()) {
        out.queued = true;
        const std::string& ahead = queued.empty() ? running.front().id : queued.back().id;
        out.waiting_reason = absl::StrCat("queued behind run ", ahead, " (policy queue)");
      }
      break;
  }
  return out;
}

}  // namespace slipway::release
