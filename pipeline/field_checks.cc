#include "pipeline/field_checks.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/proto_time.h"

namespace slipway::pipeline {
namespace {

bool IsIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

void FieldChecks::Add(std::string field, std::string message) {
  problems_.push_back({std::move(field), std::move(message)});
}

void FieldChecks::Name(const std::string& field, const std::string& name) {
  absl::Status s = CheckDnsLabel(name);
  if (!s.ok()) Add(field, std::string(s.message()));
}

void FieldChecks::Unique(std::set<std::string>& seen, const std::string& field,
                         const std::string& name, std::string_view what) {
  if (name.empty()) return;
  if (!seen.insert(name).second) {
    Add(field, absl::StrCat("duplicate ", std::string(what), " name \"", name, "\""));
  }
}

void FieldChecks::Duration(const std::string& field, const google::protobuf::Duration& d,
                           absl::Duration max) {
  if (absl::Status s = CheckDuration(d); !s.ok()) {
    Add(field, std::string(s.message()));
  } else if (DurationFromProto(d) > max) {
    Add(field, absl::StrCat("\"", FormatDuration(d), "\" is longer than the maximum ",
                            absl::FormatDuration(max)));
  }
}

void FieldChecks::Secret(const std::string& field, const v1::SecretRef& s) {
  switch (s.source_case()) {
    case v1::SecretRef::kEnv:
      if (s.env().empty()) Add(field + ".env", "must not be empty");
      for (char c : s.env()) {
        if (!IsIdentChar(c) || c == '-') {
          Add(field + ".env",
              absl::StrCat("\"", s.env(), "\" is not an environment variable name"));
          break;
        }
      }
      break;
    case v1::SecretRef::kFile:
      if (!absl::StartsWith(s.file(), "/")) {
        Add(field + ".file", absl::StrCat("\"", s.file(), "\" must be an absolute path"));
      }
      break;
    case v1::SecretRef::kValue:
      if (s.value().empty()) Add(field + ".value", "must not be empty");
      break;
    case v1::SecretRef::SOURCE_NOT_SET:
      if (s.redacted()) {
        Add(field,
            "the stored value is redacted and there is no stored secret to keep; "
            "give env, file or value");
      } else {
        Add(field, "set one of env, file or value");
      }
      break;
  }
}

}  // namespace slipway::pipeline
