#include "common/error_reason.h"

#include <string>

#include "absl/strings/cord.h"

namespace slipway {
namespace {

constexpr std::string_view kPayloadUrl = "type.slipway.dev/slipway.ErrorReason";

}  // namespace

std::string_view ReasonName(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kStageHeld:
      return "STAGE_HELD";
    case ErrorReason::kNone:
      break;
  }
  return "";
}

absl::Status WithReason(absl::Status status, ErrorReason reason) {
  if (status.ok() || reason == ErrorReason::kNone) return status;
  status.SetPayload(std::string(kPayloadUrl), absl::Cord(std::string(ReasonName(reason))));
  return status;
}

ErrorReason ReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(std::string(kPayloadUrl));
  if (!payload.has_value()) return ErrorReason::kNone;
  if (std::string(*payload) == ReasonName(ErrorReason::kStageHeld)) return ErrorReason::kStageHeld;
  return ErrorReason::kNone;
}

}  // namespace slipway
