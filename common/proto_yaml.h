// Reads and writes protobuf messages as YAML and JSON. Reading is lenient, for files people
// write: the proto's JSON mapping with snake_case (or lowerCamelCase) field names, enums as
// their full names or lower-case short names (`CONCURRENCY_POLICY_REPLACE` or `replace`),
// integers as numbers or strings, and a message whose only field is a repeated `steps`
// (`Steps`) written as a plain list. Writing is the protobuf JSON mapping exactly, printed by
// protobuf's own printer (with the proto's field names, which every parser of the mapping
// accepts), so `slipway -o json` parses with any language's protobuf JSON parser and
// `-o yaml` output can be applied again.
#ifndef SLIPWAY_COMMON_PROTO_YAML_H_
#define SLIPWAY_COMMON_PROTO_YAML_H_

#include <functional>
#include <map>
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

// Where each field of a parsed document was written: field path → line (1-based). A list item
// is there by index (`stages[1]`) and, when it has a `name`, by name (`stages[prod]`), the form
// validation problems use.
class FieldLines {
 public:
  void Add(const std::string& path, int line) { lines_.emplace(path, line); }
  // `named` (`stages[prod]`) is the item at `indexed` (`stages[1]`).
  void Alias(const std::string& named, const std::string& indexed) {
    aliases_.emplace(named, indexed);
  }
  // The line of `path`, or of the nearest enclosing field written in the file; 0 if none.
  int LineOf(std::string_view path) const;

 private:
  std::map<std::string, int, std::less<>> lines_;
  std::map<std::string, std::string, std::less<>> aliases_;
};

// ParseYaml that also records where each field was written.
absl::Status ParseYaml(std::string_view text, google::protobuf::Message* message,
                       FieldLines* lines);

// The protobuf JSON mapping, as YAML.
std::string ToYaml(const google::protobuf::Message& message);
// The protobuf JSON mapping, pretty-printed (two-space indent).
std::string ToJson(const google::protobuf::Message& message);

// The short lower-case name of an enum value (`replace` for CONCURRENCY_POLICY_REPLACE).
std::string EnumShortName(const google::protobuf::EnumValueDescriptor* value);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_PROTO_YAML_H_
