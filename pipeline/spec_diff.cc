#include "pipeline/spec_diff.h"

#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/url_credentials.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "pipeline/secrets.h"

namespace slipway::pipeline {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::util::MessageDifferencer;

std::string MessageText(const Message& m) {
  std::unique_ptr<Message> copy(m.New());
  copy->CopyFrom(m);
  RedactSecrets(copy.get());
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(*copy, &json, options).ok()) return "{…}";
  return json;
}

// One element of a repeated (or singular) field as text.
std::string ValueText(const Message& m, const FieldDescriptor* f, int index) {
  const Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  if (SensitivityOf(f) == v1::SENSITIVITY_SECRET) return std::string(kRedactedValue);
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return MaskUrlCredentials(rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f));
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrCat(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return absl::StrCat(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return std::string(rep ? r->GetRepeatedEnum(m, f, index)->name() : r->GetEnum(m, f)->name());
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return MessageText(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
  }
  return "";
}

std::string NameOf(const Message& m) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName("name");
  if (f == nullptr || f->cpp_type() != FieldDescriptor::CPPTYPE_STRING || f->is_repeated()) {
    return "";
  }
  return m.GetReflection()->GetString(m, f);
}

class Differ {
 public:
  explicit Differ(std::vector<FieldDiff>* out) : out_(out) {}

  void Messages(const Message& a, const Message& b, const std::string& prefix, bool top) {
    const auto* d = a.GetDescriptor();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (top && f->number() >= 100) continue;
      std::string path =
          prefix.empty() ? std::string(f->name()) : absl::StrCat(prefix, ".", f->name());
      if (f->is_map()) {
        Map(a, b, f, path);
      } else if (f->is_repeated()) {
        List(a, b, f, path);
      } else {
        Singular(a, b, f, path);
      }
    }
  }

 private:
  void Add(const std::string& path, std::string before, std::string after) {
    out_->push_back({path, std::move(before), std::move(after)});
  }

  void Singular(const Message& a, const Message& b, const FieldDescriptor* f,
                const std::string& path) {
    const Reflection* r = a.GetReflection();
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const bool ha = r->HasField(a, f);
      const bool hb = r->HasField(b, f);
      if (!ha && !hb) return;
      if (ha && hb) {
        Messages(r->GetMessage(a, f), r->GetMessage(b, f), path, false);
      } else {
        Add(path, ha ? ValueText(a, f, 0) : "", hb ? ValueText(b, f, 0) : "");
      }
      return;
    }
    const bool secret = SensitivityOf(f) == v1::SENSITIVITY_SECRET &&
                        f->cpp_type() == FieldDescriptor::CPPTYPE_STRING;
    const bool differs = secret ? r->GetString(a, f) != r->GetString(b, f)
                                : ValueText(a, f, 0) != ValueText(b, f, 0);
    if (!differs) return;
    const bool ha = f->has_presence() ? r->HasField(a, f) : true;
    const bool hb = f->has_presence() ? r->HasField(b, f) : true;
    Add(path, ha ? ValueText(a, f, 0) : "", hb ? ValueText(b, f, 0) : "");
  }

  void List(const Message& a, const Message& b, const FieldDescriptor* f, const std::string& path) {
    const Reflection* r = a.GetReflection();
    const int na = r->FieldSize(a, f);
    const int nb = r->FieldSize(b, f);
    bool named = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                 f->message_type()->FindFieldByName("name") != nullptr;
    if (named) {
      std::map<std::string, int> ia;
      std::map<std::string, int> ib;
      for (int k = 0; k < na; ++k) ia.emplace(NameOf(r->GetRepeatedMessage(a, f, k)), k);
      for (int k = 0; k < nb; ++k) ib.emplace(NameOf(r->GetRepeatedMessage(b, f, k)), k);
      // Unnamed or repeated names cannot be matched by name: compare by position.
      named = ia.size() == static_cast<size_t>(na) && ib.size() == static_cast<size_t>(nb) &&
              !ia.contains("") && !ib.contains("");
      if (named) {
        std::vector<std::string> order_a;
        std::vector<std::string> order_b;
        order_a.reserve(na);
        order_b.reserve(nb);
        for (int k = 0; k < na; ++k) order_a.push_back(NameOf(r->GetRepeatedMessage(a, f, k)));
        for (int k = 0; k < nb; ++k) {
          const std::string name = NameOf(r->GetRepeatedMessage(b, f, k));
          order_b.push_back(name);
          std::string item = absl::StrCat(path, "[", name, "]");
          auto it = ia.find(name);
          if (it == ia.end()) {
            Add(item, "", ValueText(b, f, k));
          } else {
            Messages(r->GetRepeatedMessage(a, f, it->second), r->GetRepeatedMessage(b, f, k), item,
                     false);
          }
        }
        for (int k = 0; k < na; ++k) {
          const std::string name = NameOf(r->GetRepeatedMessage(a, f, k));
          if (!ib.contains(name)) Add(absl::StrCat(path, "[", name, "]"), ValueText(a, f, k), "");
        }
        std::vector<std::string> kept_a;
        std::vector<std::string> kept_b;
        for (const auto& n : order_a) {
          if (ib.contains(n)) kept_a.push_back(n);
        }
        for (const auto& n : order_b) {
          if (ia.contains(n)) kept_b.push_back(n);
        }
        if (kept_a != kept_b) {
          Add(absl::StrCat(path, " (order)"), absl::StrJoin(kept_a, ", "),
              absl::StrJoin(kept_b, ", "));
        }
        return;
      }
    }
    for (int k = 0; k < std::max(na, nb); ++k) {
      std::string item = absl::StrCat(path, "[", k, "]");
      if (k >= na) {
        Add(item, "", ValueText(b, f, k));
      } else if (k >= nb) {
        Add(item, ValueText(a, f, k), "");
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        Messages(r->GetRepeatedMessage(a, f, k), r->GetRepeatedMessage(b, f, k), item, false);
      } else if (ValueText(a, f, k) != ValueText(b, f, k)) {
        Add(item, ValueText(a, f, k), ValueText(b, f, k));
      }
    }
  }

  // Map entries are messages with `key` and `value`; both sides are keyed by the key's text.
  void Map(const Message& a, const Message& b, const FieldDescriptor* f, const std::string& path) {
    const Reflection* r = a.GetReflection();
    const FieldDescriptor* key = f->message_type()->map_key();
    const FieldDescriptor* value = f->message_type()->map_value();
    const bool secret = SensitivityOf(f) == v1::SENSITIVITY_SECRET;
    auto entries = [&](const Message& m) {
      std::map<std::string, const Message*> out;
      for (int k = 0; k < r->FieldSize(m, f); ++k) {
        const Message& e = r->GetRepeatedMessage(m, f, k);
        out[ValueText(e, key, 0)] = &e;
      }
      return out;
    };
    auto ea = entries(a);
    auto eb = entries(b);
    auto text = [&](const Message* e) {
      return secret ? std::string(kRedactedValue) : ValueText(*e, value, 0);
    };
    for (const auto& [k, e] : eb) {
      std::string item = absl::StrCat(path, "[", k, "]");
      auto it = ea.find(k);
      if (it == ea.end()) {
        Add(item, "", text(e));
      } else if (!MessageDifferencer::Equals(*it->second, *e)) {
        if (value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          Messages(it->second->GetReflection()->GetMessage(*it->second, value),
                   e->GetReflection()->GetMessage(*e, value), item, false);
        } else {
          Add(item, text(it->second), text(e));
        }
      }
    }
    for (const auto& [k, e] : ea) {
      if (!eb.contains(k)) Add(absl::StrCat(path, "[", k, "]"), text(e), "");
    }
  }

  std::vector<FieldDiff>* out_;
};

}  // namespace

std::vector<FieldDiff> DiffSpecs(const Message& before, const Message& after) {
  std::vector<FieldDiff> out;
  if (before.GetDescriptor() != after.GetDescriptor()) return out;
  Differ(&out).Messages(before, after, "", true);
  return out;
}

}  // namespace slipway::pipeline
