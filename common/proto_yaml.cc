#include "common/proto_yaml.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/time_format.h"
#include "google/protobuf/util/json_util.h"

namespace slipway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// CONCURRENCY_POLICY_ for ConcurrencyPolicy; RESULT_ for a nested enum Result.
std::string EnumPrefix(const EnumDescriptor* e) {
  std::string out;
  const std::string& name = e->name();
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (i > 0 && absl::ascii_isupper(c)) out.push_back('_');
    out.push_back(absl::ascii_toupper(c));
  }
  out.push_back('_');
  return out;
}

// The field of a message written as a plain list (a list of flow steps), or nullptr. API
// responses with one repeated field stay objects, so scripts can rely on their shape.
const FieldDescriptor* ListWrapperField(const Descriptor* d) {
  if (d->field_count() == 1 && d->field(0)->is_repeated() && !d->field(0)->is_map() &&
      d->field(0)->name() == "steps") {
    return d->field(0);
  }
  return nullptr;
}

// Deeper than this, a document is refused before protobuf's decoder (limit 100) or the
// server's own nesting rules (16 levels of workflows) would see it.
constexpr int kMaxMessageDepth = 48;

class YamlReader {
 public:
  explicit YamlReader(FieldLines* lines) : lines_(lines) {}

  absl::Status ReadMessage(const YAML::Node& node, Message* msg, const std::string& path) {
    const Descriptor* d = msg->GetDescriptor();
    if (node.IsNull()) return absl::OkStatus();
    if (d->full_name() == "google.protobuf.Duration" ||
        d->full_name() == "google.protobuf.Timestamp") {
      return ReadTime(node, msg, path);
    }
    if (depth_ >= kMaxMessageDepth) {
      return Error(node, path, absl::StrCat("nested deeper than ", kMaxMessageDepth, " levels"));
    }
    ++depth_;
    absl::Status s = ReadMessageAtDepth(node, msg, path, d);
    --depth_;
    return s;
  }

 private:
  int depth_ = 0;
  FieldLines* lines_;

  void Note(const std::string& path, const YAML::Node& node) {
    if (lines_ != nullptr && node.Mark().line >= 0) lines_->Add(path, node.Mark().line + 1);
  }

  absl::Status ReadMessageAtDepth(const YAML::Node& node, Message* msg, const std::string& path,
                                  const Descriptor* d) {
    if (const FieldDescriptor* f = ListWrapperField(d); f != nullptr && node.IsSequence()) {
      return ReadRepeated(node, msg, f, path);
    }
    if (!node.IsMap()) {
      return Error(node, path, absl::StrCat("expected a mapping (", d->name(), ")"));
    }
    std::set<std::string> seen;
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      if (!seen.insert(key).second) {
        return Error(kv.first, path.empty() ? key : absl::StrCat(path, ".", key), "is given twice");
      }
      const FieldDescriptor* f = d->FindFieldByName(key);
      if (f == nullptr) f = d->FindFieldByCamelcaseName(key);
      std::string field_path = path.empty() ? key : absl::StrCat(path, ".", key);
      Note(field_path, kv.first);
      if (f == nullptr) {
        std::vector<std::string> known;
        known.reserve(d->field_count());
        for (int i = 0; i < d->field_count(); ++i) known.push_back(d->field(i)->name());
        return Error(kv.first, field_path,
                     absl::StrCat("unknown field \"", key,
                                  "\" (known fields: ", absl::StrJoin(known, ", "), ")"));
      }
      if (const auto* oneof = f->containing_oneof(); oneof != nullptr && !oneof->is_synthetic()) {
        const FieldDescriptor* set = msg->GetReflection()->GetOneofFieldDescriptor(*msg, oneof);
        if (set != nullptr && set != f) {
          return Error(kv.first, field_path,
                       absl::StrCat("\"", set->name(), "\" and \"", f->name(),
                                    "\" cannot both be set (only one of ", OneofNames(oneof), ")"));
        }
      }
      if (f->is_map()) {
        RETURN_IF_ERROR(ReadMap(kv.second, msg, f, field_path));
      } else if (f->is_repeated()) {
        RETURN_IF_ERROR(ReadRepeated(kv.second, msg, f, field_path));
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        Message* sub = msg->GetReflection()->MutableMessage(msg, f);
        RETURN_IF_ERROR(ReadMessage(kv.second, sub, field_path));
      } else {
        RETURN_IF_ERROR(ReadScalar(kv.second, msg, f, field_path, /*repeated=*/false));
      }
    }
    return absl::OkStatus();
  }

 private:
  // A Duration is written as pipeline files write durations ("90s", "5m", "1h30m", "1.5s"), a
  // Timestamp as RFC 3339 ("2026-12-01T10:00:00Z").
  static absl::Status ReadTime(const YAML::Node& node, Message* msg, const std::string& path) {
    if (!node.IsScalar())
      return Error(node, path, "expected a single value, not a list or mapping");
    const std::string& text = node.Scalar();
    if (msg->GetDescriptor()->full_name() == "google.protobuf.Duration") {
      auto* d = google::protobuf::DynamicCastToGenerated<google::protobuf::Duration>(msg);
      absl::Status s = d != nullptr ? ParseProtoDuration(text, d)
                                    : absl::InternalError("not a generated Duration");
      if (!s.ok()) return Error(node, path, std::string(s.message()));
      return absl::OkStatus();
    }
    auto* t = google::protobuf::DynamicCastToGenerated<google::protobuf::Timestamp>(msg);
    std::optional<absl::Time> when = ParseRfc3339(text);
    if (t == nullptr || !when.has_value()) {
      return Error(node, path,
                   absl::StrCat("\"", text, "\" is not an RFC 3339 time (2026-12-01T10:00:00Z)"));
    }
    *t = ProtoTime(*when);
    return absl::OkStatus();
  }

  static std::string OneofNames(const google::protobuf::OneofDescriptor* oneof) {
    std::vector<std::string> names;
    names.reserve(oneof->field_count());
    for (int i = 0; i < oneof->field_count(); ++i) names.push_back(oneof->field(i)->name());
    return absl::StrJoin(names, ", ");
  }

  static absl::Status Error(const YAML::Node& node, const std::string& path,
                            const std::string& what) {
    std::string where = path.empty() ? "document" : path;
    if (node.Mark().line >= 0) absl::StrAppend(&where, " (line ", node.Mark().line + 1, ")");
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
  }

  absl::Status ReadRepeated(const YAML::Node& node, Message* msg, const FieldDescriptor* f,
                            const std::string& path) {
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsSequence()) return Error(node, path, "expected a list");
    for (size_t i = 0; i < node.size(); ++i) {
      std::string item_path = absl::StrCat(path, "[", i, "]");
      Note(item_path, node[i]);
      if (lines_ != nullptr && node[i].IsMap()) {
        // Validation names an item by its name: `stages[prod]` is `stages[1]`.
        const YAML::Node name = node[i]["name"];
        if (name && name.IsScalar() && !name.Scalar().empty()) {
          lines_->Alias(absl::StrCat(path, "[", name.Scalar(), "]"), item_path);
        }
      }
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        Message* sub = msg->GetReflection()->AddMessage(msg, f);
        RETURN_IF_ERROR(ReadMessage(node[i], sub, item_path));
      } else {
        RETURN_IF_ERROR(ReadScalar(node[i], msg, f, item_path, /*repeated=*/true));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadMap(const YAML::Node& node, Message* msg, const FieldDescriptor* f,
                       const std::string& path) {
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) return Error(node, path, "expected a mapping");
    const Descriptor* entry = f->message_type();
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      std::string item_path = absl::StrCat(path, ".", key);
      Message* e = msg->GetReflection()->AddMessage(msg, f);
      const FieldDescriptor* value_field = entry->FindFieldByName("value");
      e->GetReflection()->SetString(e, entry->FindFieldByName("key"), key);
      if (value_field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        RETURN_IF_ERROR(
            ReadMessage(kv.second, e->GetReflection()->MutableMessage(e, value_field), item_path));
      } else {
        RETURN_IF_ERROR(ReadScalar(kv.second, e, value_field, item_path, false));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadScalar(const YAML::Node& node, Message* msg, const FieldDescriptor* f,
                          const std::string& path, bool repeated) {
    const Reflection* r = msg->GetReflection();
    std::string text;
    if (node.IsNull()) {
      text = "";
    } else if (node.IsScalar()) {
      text = node.Scalar();
    } else {
      return Error(node, path, "expected a single value, not a list or mapping");
    }
    auto bad = [&](const char* type) {
      return Error(node, path, absl::StrCat("\"", text, "\" is not ", type));
    };
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        repeated ? r->AddString(msg, f, text) : r->SetString(msg, f, text);
        return absl::OkStatus();
      case FieldDescriptor::CPPTYPE_INT32: {
        int32_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
        repeated ? r->AddInt32(msg, f, v) : r->SetInt32(msg, f, v);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
        repeated ? r->AddInt64(msg, f, v) : r->SetInt64(msg, f, v);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_UINT32: {
        uint32_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
        repeated ? r->AddUInt32(msg, f, v) : r->SetUInt32(msg, f, v);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
        repeated ? r->AddUInt64(msg, f, v) : r->SetUInt64(msg, f, v);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double v;
        if (!absl::SimpleAtod(text, &v)) return bad("a number");
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
          repeated ? r->AddDouble(msg, f, v) : r->SetDouble(msg, f, v);
        } else {
          repeated ? r->AddFloat(msg, f, static_cast<float>(v))
                   : r->SetFloat(msg, f, static_cast<float>(v));
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_BOOL: {
        std::string lower = absl::AsciiStrToLower(text);
        bool v;
        if (lower == "true") {
          v = true;
        } else if (lower == "false") {
          v = false;
        } else {
          return bad("true or false");
        }
        repeated ? r->AddBool(msg, f, v) : r->SetBool(msg, f, v);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const EnumDescriptor* e = f->enum_type();
        std::string upper = absl::AsciiStrToUpper(text);
        const EnumValueDescriptor* v = e->FindValueByName(EnumPrefix(e) + upper);
        if (v == nullptr) v = e->FindValueByName(upper);
        if (v == nullptr || v->number() == 0) {
          std::vector<std::string> allowed;
          for (int i = 1; i < e->value_count(); ++i) {
            allowed.push_back(EnumShortName(e->value(i)));
          }
          return Error(node, path,
                       absl::StrCat("\"", text, "\" is not one of ", absl::StrJoin(allowed, ", ")));
        }
        repeated ? r->AddEnum(msg, f, v) : r->SetEnum(msg, f, v);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
    return Error(node, path, "unsupported field type");
  }
};

// The protobuf JSON mapping, from protobuf's own printer, with the proto's field names.
nlohmann::ordered_json MessageToJsonValue(const Message& msg) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(msg, &json, options);
  if (!status.ok()) {
    return nlohmann::ordered_json{
        {"error", absl::StrCat("cannot print ", msg.GetDescriptor()->full_name(), ": ",
                               std::string(status.message()))}};
  }
  return nlohmann::ordered_json::parse(json);
}

void EmitJsonAsYaml(const nlohmann::ordered_json& v, YAML::Emitter& out) {
  if (v.is_object()) {
    if (v.empty()) {
      out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
      return;
    }
    out << YAML::BeginMap;
    for (auto it = v.begin(); it != v.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      EmitJsonAsYaml(it.value(), out);
    }
    out << YAML::EndMap;
  } else if (v.is_array()) {
    if (v.empty()) {
      out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
      return;
    }
    out << YAML::BeginSeq;
    for (const auto& item : v) EmitJsonAsYaml(item, out);
    out << YAML::EndSeq;
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    // Quote strings that a YAML reader would take for another type or that are empty.
    std::string lower = absl::AsciiStrToLower(s);
    double d;
    bool ambiguous = s.empty() || lower == "true" || lower == "false" || lower == "null" ||
                     lower == "~" || lower == "yes" || lower == "no" || absl::SimpleAtod(s, &d);
    if (ambiguous) {
      out << YAML::DoubleQuoted << s;
    } else {
      out << s;
    }
  } else if (v.is_boolean()) {
    out << (v.get<bool>() ? "true" : "false");
  } else {
    out << v.dump();
  }
}

}  // namespace

std::string EnumShortName(const EnumValueDescriptor* value) {
  std::string prefix = EnumPrefix(value->type());
  std::string name = value->name();
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  return absl::AsciiStrToLower(name);
}

int FieldLines::LineOf(std::string_view path) const {
  // The path in index form: each named item replaced by its index, left to right.
  std::string resolved;
  size_t i = 0;
  while (i < path.size()) {
    size_t j;
    if (path[i] == '[') {
      j = path.find(']', i);
      j = j == std::string_view::npos ? path.size() : j + 1;
    } else {
      j = path.find_first_of(".[", i + 1);
      if (j == std::string_view::npos) j = path.size();
    }
    resolved.append(path.substr(i, j - i));
    if (auto a = aliases_.find(resolved); a != aliases_.end()) resolved = a->second;
    i = j;
  }
  // The nearest enclosing field the file wrote (a default is in no file).
  while (!resolved.empty()) {
    if (auto it = lines_.find(resolved); it != lines_.end()) return it->second;
    size_t cut = resolved.find_last_of(".[");
    if (cut == std::string::npos) break;
    resolved.resize(cut);
  }
  return 0;
}

absl::Status ParseYaml(std::string_view text, Message* message) {
  return ParseYaml(text, message, nullptr);
}

absl::Status ParseYaml(std::string_view text, Message* message, FieldLines* lines) {
  message->Clear();
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::DeepRecursion& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid YAML: nested deeper than ",
                                                   kMaxMessageDepth, " levels (line ",
                                                   e.mark.line + 1, ")"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid YAML: ", e.what()));
  }
  try {
    return YamlReader(lines).ReadMessage(root, message, "");
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid YAML: ", e.what()));
  }
}

std::string ToJson(const Message& message) { return MessageToJsonValue(message).dump(2); }

std::string ToYaml(const Message& message) {
  YAML::Emitter out;
  out.SetIndent(2);
  EmitJsonAsYaml(MessageToJsonValue(message), out);
  return std::string(out.c_str()) + "\n";
}

}  // namespace slipway
