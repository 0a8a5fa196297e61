// Validation of a pipeline spec: every rule a spec must meet before it is stored, with each
// problem reported against the path of the field that breaks it
// (`stages[1].resources[0].driver: unknown driver "dokcer"`).
#ifndef SLIPWAY_PIPELINE_VALIDATION_H_
#define SLIPWAY_PIPELINE_VALIDATION_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::pipeline {

// Limits a spec must stay within.
inline constexpr size_t kMaxSpecBytes = 1 << 20;
inline constexpr int kMaxStages = 64;
inline constexpr int kMaxNodes = 1000;
inline constexpr int kMaxNesting = 16;
inline constexpr int kMaxRetryAttempts = 10;
inline constexpr int kMaxApprovals = 10;
inline constexpr int kMaxArguments = 64;
// The longest argument value (and default).
inline constexpr size_t kMaxArgumentBytes = 4096;

// A declared argument's name: a lower-case letter, then lower-case letters, digits, '_' or '-';
// at most 64 characters.
bool IsArgumentName(std::string_view name);

struct Problem {
  std::string field;
  std::string message;
};

// Returns every problem found in `pipeline`, in field order; empty if it is valid. Output-only
// fields are ignored.
std::vector<Problem> Validate(const v1::Pipeline& pipeline);

// The payload (absl::Status::SetPayload) under which an error carries a google.rpc.BadRequest
// with every problem; the gRPC edge sends it as the call's error details.
inline constexpr char kBadRequestTypeUrl[] = "type.googleapis.com/google.rpc.BadRequest";

// OK if `problems` is empty; otherwise INVALID_ARGUMENT: one problem as "field: message", or
// "N problems:" and each on its own line (the first 50), with every problem as a BadRequest
// payload (kBadRequestTypeUrl).
absl::Status ProblemsToStatus(const std::vector<Problem>& problems);

// The names of the drivers this build knows.
const std::vector<std::string>& KnownDrivers();

}  // namespace slipway::pipeline

#endif  // SLIPWAY_PIPELINE_VALIDATION_H_
