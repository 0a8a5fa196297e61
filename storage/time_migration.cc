#include "storage/time_migration.h"

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/time_format.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "slipway/v1/delivery.pb.h"
#include "slipway/v1/preview.pb.h"
#include "slipway/v1/release.pb.h"

namespace slipway::storage {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::DescriptorProto;
using google::protobuf::FieldDescriptor;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::Message;

enum class Kind { kTimestamp, kDuration };

// The stored messages as they were before migration 12: every Timestamp and Duration field of
// slipway.v1 read as bytes (the old text), everything else as it is now.
class LegacySchema {
 public:
  LegacySchema() {
    // Force the generated files in, so the generated pool has them all.
    (void)v1::Run::descriptor();
    (void)v1::Delivery::descriptor();
    (void)v1::Preview::descriptor();
    for (const char* name :
         {"slipway/v1/pipeline.proto", "slipway/v1/release.proto", "slipway/v1/delivery.proto",
          "slipway/v1/preview.proto", "slipway/v1/admin_service.proto"}) {
      const FileDescriptor* f = DescriptorPool::generated_pool()->FindFileByName(name);
      if (f != nullptr) Add(f);
    }
  }

  const Descriptor* Find(std::string_view type) const {
    return pool_.FindMessageTypeByName(std::string(type));
  }
  std::optional<Kind> Converted(const FieldDescriptor* f) const {
    auto it = converted_.find(f->full_name());
    if (it == converted_.end()) return std::nullopt;
    return it->second;
  }
  const Message* Prototype(const Descriptor* d) { return factory_.GetPrototype(d); }

 private:
  void Add(const FileDescriptor* file) {
    if (!added_.insert(file->name()).second) return;
    for (int i = 0; i < file->dependency_count(); ++i) Add(file->dependency(i));
    FileDescriptorProto proto;
    file->CopyTo(&proto);
    if (proto.package() == "slipway.v1") {
      for (DescriptorProto& m : *proto.mutable_message_type()) Legacy(proto.package(), &m);
    }
    pool_.BuildFile(proto);
  }

  void Legacy(const std::string& scope, DescriptorProto* m) {
    std::string name = absl::StrCat(scope, ".", m->name());
    for (FieldDescriptorProto& f : *m->mutable_field()) {
      std::optional<Kind> kind;
      if (f.type_name() == ".google.protobuf.Timestamp") kind = Kind::kTimestamp;
      if (f.type_name() == ".google.protobuf.Duration") kind = Kind::kDuration;
      if (!kind.has_value()) continue;
      f.set_type(FieldDescriptorProto::TYPE_BYTES);
      f.clear_type_name();
      converted_[absl::StrCat(name, ".", f.name())] = *kind;
    }
    for (DescriptorProto& nested : *m->mutable_nested_type()) Legacy(name, &nested);
  }

  DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_{&pool_};
  std::set<std::string> added_;
  absl::flat_hash_map<std::string, Kind> converted_;
};

LegacySchema& Schema() {
  static auto* schema = new LegacySchema();
  return *schema;
}

// The new encoding of one old value, or nullopt when the text means nothing.
std::optional<std::string> Encode(Kind kind, const std::string& text) {
  if (kind == Kind::kTimestamp) {
    std::optional<absl::Time> t = ParseRfc3339(text);
    if (!t.has_value()) return std::nullopt;
    return ProtoTime(*t).SerializeAsString();
  }
  google::protobuf::Duration d;
  if (!ParseProtoDuration(text, &d).ok()) return std::nullopt;
  return d.SerializeAsString();
}

// Rewrites in place: each converted field's text becomes the bytes of its Timestamp or
// Duration, which parse as the new message since both are length-delimited.
void Rewrite(LegacySchema& schema, Message* m) {
  const google::protobuf::Reflection* r = m->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (std::optional<Kind> kind = schema.Converted(f); kind.has_value()) {
      if (f->is_repeated()) continue;  // no repeated time fields exist
      std::optional<std::string> encoded = Encode(*kind, r->GetString(*m, f));
      if (encoded.has_value()) {
        r->SetString(m, f, *encoded);
      } else {
        r->ClearField(m, f);
      }
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(*m, f); ++i)
        Rewrite(schema, r->MutableRepeatedMessage(m, f, i));
    } else {
      Rewrite(schema, r->MutableMessage(m, f));
    }
  }
}

void ReencodeFunction(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (argc != 2) {
    sqlite3_result_error(ctx, "slipway_times_v12: two arguments", -1);
    return;
  }
  const auto* type = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  const void* blob = sqlite3_value_blob(argv[1]);
  int n = sqlite3_value_bytes(argv[1]);
  std::string_view stored(blob == nullptr ? "" : static_cast<const char*>(blob),
                          blob == nullptr ? 0 : static_cast<size_t>(n));
  absl::StatusOr<std::string> out = ReencodeTimes(type == nullptr ? "" : type, stored);
  if (!out.ok()) {
    std::string msg(out.status().message());
    sqlite3_result_error(ctx, msg.c_str(), static_cast<int>(msg.size()));
    return;
  }
  sqlite3_result_blob(ctx, out->data(), static_cast<int>(out->size()), SQLITE_TRANSIENT);
}

}  // namespace

absl::StatusOr<std::string> ReencodeTimes(std::string_view type, std::string_view stored) {
  LegacySchema& schema = Schema();
  const Descriptor* legacy = schema.Find(type);
  const Descriptor* current =
      DescriptorPool::generated_pool()->FindMessageTypeByName(std::string(type));
  const Message* prototype = legacy == nullptr ? nullptr : schema.Prototype(legacy);
  if (current == nullptr || prototype == nullptr) {
    return absl::InternalError(
        absl::StrCat("storage: migration 12: unknown message type ", std::string(type)));
  }
  std::unique_ptr<Message> m(prototype->New());
  if (!m->ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
    return absl::DataLossError(
        absl::StrCat("storage: migration 12: a stored ", std::string(type), " cannot be decoded"));
  }
  Rewrite(schema, m.get());
  std::string out = m->SerializeAsString();
  std::unique_ptr<Message> check(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(current)->New());
  if (!check->ParseFromString(out)) {
    return absl::DataLossError(absl::StrCat("storage: migration 12: a re-encoded ",
                                            std::string(type), " does not decode"));
  }
  return out;
}

absl::Status RegisterTimeMigration(sqlite3* db) {
  int rc =
      sqlite3_create_function_v2(db, "slipway_times_v12", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                 nullptr, ReencodeFunction, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return absl::InternalError(
        absl::StrCat("storage: register migration 12: ", sqlite3_errmsg(db)));
  }
  return absl::OkStatus();
}

}  // namespace slipway::storage
