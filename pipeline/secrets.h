// Secret values are write-only. A field is a secret when its proto declaration carries
// `[(slipway.v1.sensitivity) = SENSITIVITY_SECRET]` (slipway/v1/options.proto): SecretRef.value,
// HTTP node headers, environment maps. These functions walk any message by reflection, so a
// secret is hidden wherever its message sits (a pipeline, a run's stage snapshot, a preview's
// blueprint), and every gRPC response passes through RedactSecrets on its way out.
#ifndef SLIPWAY_PIPELINE_SECRETS_H_
#define SLIPWAY_PIPELINE_SECRETS_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "slipway/v1/options.pb.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::pipeline {

// What a map or list value of a secret field shows instead of its value.
inline constexpr char kRedactedValue[] = "***";

// The field's `slipway.v1.sensitivity` mark.
v1::Sensitivity SensitivityOf(const google::protobuf::FieldDescriptor* field);

// True when RedactSecrets would change `message`: a secret field is set, or a string holds a URL
// with credentials.
bool NeedsRedaction(const google::protobuf::Message& message);

// Clears every secret string (setting a `redacted` flag beside it, when its message has one),
// replaces each value of a secret map or list by "***", and masks URL credentials in every other
// string (common/url_credentials.h). Fields marked SHOWN_ONCE are left alone.
void RedactSecrets(google::protobuf::Message* message);

// Undoes what RedactSecrets did to a message a client read and sent back, using the stored one:
// a redacted SecretRef without a source takes the stored reference; a "***" map value takes the
// stored value of the same key; a string equal to the stored one with its URL credentials masked
// takes the stored string. List entries are matched by their `name` field when they have one,
// else by position. What cannot be matched stays as it is (and fails validation).
void RestoreRedactedSecrets(google::protobuf::Message* incoming,
                            const google::protobuf::Message& stored);

// The secret a reference names: its value, the environment variable of slipwayd, or the
// file's contents without a trailing newline. FAILED_PRECONDITION when it cannot be read.
absl::StatusOr<std::string> ResolveSecret(const v1::SecretRef& ref);

}  // namespace slipway::pipeline

#endif  // SLIPWAY_PIPELINE_SECRETS_H_
