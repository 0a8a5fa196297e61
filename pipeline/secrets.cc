#include "pipeline/secrets.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

#include "slipway/v1/pipeline.pb.h"

namespace slipway::pipeline {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

std::string NameOf(const Message& m) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName("name");
  if (f == nullptr || f->type() != FieldDescriptor::TYPE_STRING || f->is_repeated()) return "";
  return m.GetReflection()->GetString(m, f);
}

}  // namespace

void RedactSecrets(Message* message) {
  if (auto* ref = dynamic_cast<v1::SecretRef*>(message); ref != nullptr) {
    if (ref->has_value()) {
      ref->clear_value();
      ref->set_redacted(true);
    }
    return;
  }
  const auto* r = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*message, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_map()) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(*message, f); ++i) {
        RedactSecrets(r->MutableRepeatedMessage(message, f, i));
      }
    } else {
      RedactSecrets(r->MutableMessage(message, f));
    }
  }
}

void RestoreRedactedSecrets(Message* incoming, const Message& stored) {
  if (auto* ref = dynamic_cast<v1::SecretRef*>(incoming); ref != nullptr) {
    if (ref->redacted() && ref->source_case() == v1::SecretRef::SOURCE_NOT_SET) {
      ref->CopyFrom(stored);
      ref->set_redacted(false);
    }
    return;
  }
  const auto* r = incoming->GetReflection();
  const auto* sr = stored.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*incoming, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_map()) continue;
    if (!f->is_repeated()) {
      if (sr->HasField(stored, f)) {
        RestoreRedactedSecrets(r->MutableMessage(incoming, f), sr->GetMessage(stored, f));
      }
      continue;
    }
    int stored_size = sr->FieldSize(stored, f);
    for (int i = 0; i < r->FieldSize(*incoming, f); ++i) {
      Message* item = r->MutableRepeatedMessage(incoming, f, i);
      std::string name = NameOf(*item);
      const Message* match = nullptr;
      if (!name.empty()) {
        for (int j = 0; j < stored_size && match == nullptr; ++j) {
          if (NameOf(sr->GetRepeatedMessage(stored, f, j)) == name) {
            match = &sr->GetRepeatedMessage(stored, f, j);
          }
        }
      } else if (i < stored_size) {
        match = &sr->GetRepeatedMessage(stored, f, i);
      }
      if (match != nullptr) RestoreRedactedSecrets(item, *match);
    }
  }
}

absl::StatusOr<std::string> ResolveSecret(const v1::SecretRef& ref) {
  switch (ref.source_case()) {
    case v1::SecretRef::kValue:
      return ref.value();
    case v1::SecretRef::kEnv: {
      const char* v = std::getenv(ref.env().c_str());
      if (v == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("secret: environment variable ", ref.env(), " is not set"));
      }
      return std::string(v);
    }
    case v1::SecretRef::kFile: {
      std::ifstream in(ref.file());
      if (!in) return absl::FailedPreconditionError(absl::StrCat("secret: cannot read ", ref.file()));
      std::stringstream ss;
      ss << in.rdbuf();
      std::string s = ss.str();
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
      return s;
    }
    default:
      return absl::FailedPreconditionError("secret: not set");
  }
}

}  // namespace slipway::pipeline
