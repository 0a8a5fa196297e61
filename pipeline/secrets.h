// Secret values in a pipeline spec are write-only. These walk every SecretRef in a message
// (wherever it sits in the model) to hide stored values on the way out and to keep them when a
// client sends a redacted reference back.
#ifndef SLIPWAY_PIPELINE_SECRETS_H_
#define SLIPWAY_PIPELINE_SECRETS_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::pipeline {

// Clears every SecretRef.value in `message` and marks those references `redacted`.
void RedactSecrets(google::protobuf::Message* message);

// For every SecretRef in `incoming` that is redacted and has no source, copies the source of the
// SecretRef at the same place in `stored` (list entries are matched by their `name` field when
// they have one, else by position). References that cannot be matched stay as they are (and
// fail validation).
void RestoreRedactedSecrets(google::protobuf::Message* incoming,
                            const google::protobuf::Message& stored);

// The secret a reference names: its value, the environment variable of slipwayd, or the
// file's contents without a trailing newline. FAILED_PRECONDITION when it cannot be read.
absl::StatusOr<std::string> ResolveSecret(const v1::SecretRef& ref);

}  // namespace slipway::pipeline

#endif  // SLIPWAY_PIPELINE_SECRETS_H_
