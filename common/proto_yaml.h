// Reads and writes protobuf messages as YAML and JSON in the project's one file format: the
// proto's JSON mapping with snake_case field names, enums as their lower-case short names
// (`CONCURRENCY_POLICY_REPLACE` is written `replace`), and a message whose only field is a
// repeated `steps` (`Steps`) written as a plain list. `slipway apply -f`, `-o yaml` and `-o json`
// all use it, so what the CLI prints can be applied again.
#ifndef SLIPWAY_COMMON_PROTO_YAML_H_
#define SLIPWAY_COMMON_PROTO_YAML_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace slipway {

// Parses one YAML (or JSON) document into `message`, which is cleared first. Unknown fields,
// wrong types, two members of one oneof, and malformed YAML are INVALID_ARGUMENT errors whose
// message gives the field path and line: `stages[1].resources[0].dirver (line 14): unknown
// field "dirver"`.
absl::Status ParseYaml(std::string_view text, google::protobuf::Message* message);

std::string ToYaml(const google::protobuf::Message& message);
// Pretty-printed JSON (two-space indent) in the same conventions.
std::string ToJson(const google::protobuf::Message& message);

// The short lower-case name of an enum value (`replace` for CONCURRENCY_POLICY_REPLACE).
std::string EnumShortName(const google::protobuf::EnumValueDescriptor* value);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_PROTO_YAML_H_
