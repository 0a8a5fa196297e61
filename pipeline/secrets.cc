#include "pipeline/secrets.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/url_credentials.h"

namespace slipway::pipeline {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string NameOf(const Message& m) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName("name");
  if (f == nullptr || f->type() != FieldDescriptor::TYPE_STRING || f->is_repeated()) return "";
  return m.GetReflection()->GetString(m, f);
}

bool IsString(const FieldDescriptor* f) { return f->cpp_type() == FieldDescriptor::CPPTYPE_STRING; }

// The value field of a map entry when the map's values are strings, else null.
const FieldDescriptor* StringMapValue(const FieldDescriptor* f) {
  if (!f->is_map()) return nullptr;
  const FieldDescriptor* value = f->message_type()->map_value();
  return IsString(value) ? value : nullptr;
}

void SetRedactedFlag(Message* m) {
  const FieldDescriptor* flag = m->GetDescriptor()->FindFieldByName("redacted");
  if (flag != nullptr && flag->cpp_type() == FieldDescriptor::CPPTYPE_BOOL &&
      !flag->is_repeated()) {
    m->GetReflection()->SetBool(m, flag, true);
  }
}

// Redacts (or, with `apply` false, only looks for) what RedactSecrets hides. Returns whether
// anything was or would be changed.
bool Walk(Message* m, const Message& view, bool apply) {
  const Reflection* r = view.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(view, &fields);
  bool changed = false;
  for (const FieldDescriptor* f : fields) {
    v1::Sensitivity mark = SensitivityOf(f);
    if (mark == v1::SENSITIVITY_SHOWN_ONCE) continue;
    bool secret = mark == v1::SENSITIVITY_SECRET;
    if (IsString(f) && f->type() == FieldDescriptor::TYPE_BYTES) continue;
    if (IsString(f) && !f->is_repeated()) {
      std::string scratch;
      const std::string& v = r->GetStringReference(view, f, &scratch);
      if (secret) {
        changed = true;
        if (apply) {
          r->ClearField(m, f);
          SetRedactedFlag(m);
        }
      } else if (HasUrlCredentials(v)) {
        changed = true;
        if (apply) {
          std::string shown = MaskUrlCredentials(v);
          r->SetString(m, f, std::move(shown));
        }
      }
      continue;
    }
    if (IsString(f)) {
      for (int i = 0; i < r->FieldSize(view, f); ++i) {
        std::string scratch;
        const std::string& v = r->GetRepeatedStringReference(view, f, i, &scratch);
        if (secret ? v != kRedactedValue : HasUrlCredentials(v)) {
          changed = true;
          if (apply) {
            std::string shown = secret ? std::string(kRedactedValue) : MaskUrlCredentials(v);
            r->SetRepeatedString(m, f, i, std::move(shown));
          }
        }
      }
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (const FieldDescriptor* value = StringMapValue(f); value != nullptr) {
      for (int i = 0; i < r->FieldSize(view, f); ++i) {
        const Message& entry = r->GetRepeatedMessage(view, f, i);
        std::string scratch;
        const std::string& v = entry.GetReflection()->GetStringReference(entry, value, &scratch);
        if (secret ? v != kRedactedValue : HasUrlCredentials(v)) {
          changed = true;
          if (!apply) break;
          std::string shown = secret ? std::string(kRedactedValue) : MaskUrlCredentials(v);
          Message* e = r->MutableRepeatedMessage(m, f, i);
          e->GetReflection()->SetString(e, value, std::move(shown));
        }
      }
      if (changed && !apply) return true;
      continue;
    }
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(view, f); ++i) {
        if (apply) {
          Message* child = r->MutableRepeatedMessage(m, f, i);
          changed = Walk(child, *child, true) || changed;
        } else if (Walk(nullptr, r->GetRepeatedMessage(view, f, i), false)) {
          return true;
        }
      }
    } else if (apply) {
      Message* child = r->MutableMessage(m, f);
      changed = Walk(child, *child, true) || changed;
    } else if (Walk(nullptr, r->GetMessage(view, f), false)) {
      return true;
    }
    if (changed && !apply) return true;
  }
  return changed;
}

const Message* MatchInList(const Message& item, int index, const Message& stored,
                           const FieldDescriptor* f) {
  const Reflection* sr = stored.GetReflection();
  int stored_size = sr->FieldSize(stored, f);
  std::string name = NameOf(item);
  if (name.empty())
    return index < stored_size ? &sr->GetRepeatedMessage(stored, f, index) : nullptr;
  for (int j = 0; j < stored_size; ++j) {
    if (NameOf(sr->GetRepeatedMessage(stored, f, j)) == name) {
      return &sr->GetRepeatedMessage(stored, f, j);
    }
  }
  return nullptr;
}

// The stored string a masked one stands for, when `incoming` is exactly `stored` masked.
bool Unmasks(const std::string& incoming, const std::string& stored) {
  return incoming != stored && MaskUrlCredentials(stored) == incoming;
}

}  // namespace

v1::Sensitivity SensitivityOf(const FieldDescriptor* field) {
  return field->options().GetExtension(v1::sensitivity);
}

bool NeedsRedaction(const Message& message) { return Walk(nullptr, message, false); }

void RedactSecrets(Message* message) { Walk(message, *message, true); }

void RestoreRedactedSecrets(Message* incoming, const Message& stored) {
  if (incoming == nullptr) return;
  if (auto* ref = dynamic_cast<v1::SecretRef*>(incoming); ref != nullptr) {
    if (ref->redacted() && ref->source_case() == v1::SecretRef::SOURCE_NOT_SET) {
      ref->CopyFrom(stored);
      ref->set_redacted(false);
    }
    return;
  }
  const Reflection* r = incoming->GetReflection();
  const Reflection* sr = stored.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*incoming, &fields);
  for (const FieldDescriptor* f : fields) {
    if (IsString(f) && f->type() == FieldDescriptor::TYPE_BYTES) continue;
    if (IsString(f) && !f->is_repeated()) {
      std::string s = sr->GetString(stored, f);
      if (Unmasks(r->GetString(*incoming, f), s)) r->SetString(incoming, f, s);
      continue;
    }
    if (IsString(f)) {
      int n = std::min(r->FieldSize(*incoming, f), sr->FieldSize(stored, f));
      for (int i = 0; i < n; ++i) {
        std::string s = sr->GetRepeatedString(stored, f, i);
        if (Unmasks(r->GetRepeatedString(*incoming, f, i), s))
          r->SetRepeatedString(incoming, f, i, s);
      }
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (const FieldDescriptor* value = StringMapValue(f); value != nullptr) {
      const FieldDescriptor* key = f->message_type()->map_key();
      std::map<std::string, std::string> before;
      for (int j = 0; j < sr->FieldSize(stored, f); ++j) {
        const Message& e = sr->GetRepeatedMessage(stored, f, j);
        const Reflection* er = e.GetReflection();
        before[er->GetString(e, key)] = er->GetString(e, value);
      }
      bool secret = SensitivityOf(f) == v1::SENSITIVITY_SECRET;
      for (int i = 0; i < r->FieldSize(*incoming, f); ++i) {
        const Message& e = r->GetRepeatedMessage(*incoming, f, i);
        const Reflection* er = e.GetReflection();
        auto it = before.find(er->GetString(e, key));
        if (it == before.end()) continue;
        std::string v = er->GetString(e, value);
        if ((secret && v == kRedactedValue) || Unmasks(v, it->second)) {
          Message* m = r->MutableRepeatedMessage(incoming, f, i);
          m->GetReflection()->SetString(m, value, it->second);
        }
      }
      continue;
    }
    if (f->is_map()) {
      // Maps of messages (secret_env: name -> SecretRef): entries are matched by key.
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      if (key->cpp_type() != FieldDescriptor::CPPTYPE_STRING ||
          value->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
        continue;
      }
      for (int i = 0; i < r->FieldSize(*incoming, f); ++i) {
        Message* e = r->MutableRepeatedMessage(incoming, f, i);
        const std::string k = e->GetReflection()->GetString(*e, key);
        for (int j = 0; j < sr->FieldSize(stored, f); ++j) {
          const Message& se = sr->GetRepeatedMessage(stored, f, j);
          if (se.GetReflection()->GetString(se, key) != k) continue;
          RestoreRedactedSecrets(e->GetReflection()->MutableMessage(e, value),
                                 se.GetReflection()->GetMessage(se, value));
          break;
        }
      }
      continue;
    }
    if (!f->is_repeated()) {
      if (sr->HasField(stored, f)) {
        RestoreRedactedSecrets(r->MutableMessage(incoming, f), sr->GetMessage(stored, f));
      }
      continue;
    }
    for (int i = 0; i < r->FieldSize(*incoming, f); ++i) {
      Message* item = r->MutableRepeatedMessage(incoming, f, i);
      if (const Message* match = MatchInList(*item, i, stored, f); match != nullptr) {
        RestoreRedactedSecrets(item, *match);
      }
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
      if (!in)
        return absl::FailedPreconditionError(absl::StrCat("secret: cannot read ", ref.file()));
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
