// Errors that callers must tell apart carry a typed reason, an absl::Status payload, so that
// nothing recognises an error by its message text (which is for people and may change).
#ifndef SLIPWAY_COMMON_ERROR_REASON_H_
#define SLIPWAY_COMMON_ERROR_REASON_H_

#include <string_view>

#include "absl/status/status.h"

namespace slipway {

enum class ErrorReason {
  kNone,
  // FAILED_PRECONDITION: the stage is held, so the run was not started.
  kStageHeld,
};

// `status` with `reason` attached (OK stays OK).
absl::Status WithReason(absl::Status status, ErrorReason reason);

// The reason attached to `status`, or kNone.
ErrorReason ReasonOf(const absl::Status& status);

// "STAGE_HELD" for kStageHeld; empty for kNone. Sent to gRPC clients as the trailing metadata
// `slipway-error-reason`.
std::string_view ReasonName(ErrorReason reason);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_ERROR_REASON_H_
