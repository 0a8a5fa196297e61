#include "storage/sealed_secrets.h"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "slipway/v1/options.pb.h"
#include "slipway/v1/preview.pb.h"
#include "slipway/v1/release.pb.h"

namespace slipway::storage {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsSecret(const FieldDescriptor* f) {
  return f->options().GetExtension(v1::sensitivity) == v1::SENSITIVITY_SECRET;
}

// Whether messages of type `d` can contain a secret field, at any depth (cached per type).
bool MayHoldSlow(const Descriptor* d);

bool MayHold(const Descriptor* d) {
  // Asked for every message written and read: answered from a per-thread copy without a lock.
  thread_local std::unordered_map<const Descriptor*, bool> seen;
  if (auto it = seen.find(d); it != seen.end()) return it->second;
  bool may = MayHoldSlow(d);
  seen.emplace(d, may);
  return may;
}

bool MayHoldSlow(const Descriptor* d) {
  static std::mutex mu;
  static auto* cache = new std::map<const Descriptor*, bool>();
  std::lock_guard<std::mutex> lock(mu);
  std::vector<const Descriptor*> stack;
  std::function<bool(const Descriptor*)> visit = [&](const Descriptor* t) -> bool {
    if (auto it = cache->find(t); it != cache->end()) return it->second;
    (*cache)[t] = false;  // while visiting: a cycle adds nothing
    bool found = false;
    for (int i = 0; i < t->field_count() && !found; ++i) {
      const FieldDescriptor* f = t->field(i);
      if (IsSecret(f))
        found = true;
      else if (f->message_type() != nullptr && !f->is_map())
        found = visit(f->message_type());
    }
    (*cache)[t] = found;
    return found;
  };
  return visit(d);
}

// Calls `fn(value)` for each value of a secret field in `m` (strings, list entries, map
// values), letting it change the value. Stops at the first error.
absl::Status ForEachSecret(Message* m, const std::function<absl::Status(std::string&)>& fn) {
  if (!MayHold(m->GetDescriptor())) return absl::OkStatus();
  const Reflection* r = m->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (IsSecret(f)) {
      if (f->is_map() &&
          f->message_type()->map_value()->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        const FieldDescriptor* value = f->message_type()->map_value();
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          std::string v = r->GetRepeatedMessage(*m, f, i).GetReflection()->GetString(
              r->GetRepeatedMessage(*m, f, i), value);
          std::string before = v;
          RETURN_IF_ERROR(fn(v));
          if (v != before) {
            Message* e = r->MutableRepeatedMessage(m, f, i);
            e->GetReflection()->SetString(e, value, std::move(v));
          }
        }
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING && f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          std::string v = r->GetRepeatedString(*m, f, i);
          RETURN_IF_ERROR(fn(v));
          r->SetRepeatedString(m, f, i, std::move(v));
        }
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        std::string v = r->GetString(*m, f);
        RETURN_IF_ERROR(fn(v));
        r->SetString(m, f, std::move(v));
      }
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_map()) continue;
    if (!MayHold(f->message_type())) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(*m, f); ++i) {
        RETURN_IF_ERROR(ForEachSecret(r->MutableRepeatedMessage(m, f, i), fn));
      }
    } else {
      RETURN_IF_ERROR(ForEachSecret(r->MutableMessage(m, f), fn));
    }
  }
  return absl::OkStatus();
}

// Whether `m` has a value in a secret field (read only: no copy).
bool AnySecretValue(const Message& m) {
  if (!MayHold(m.GetDescriptor())) return false;
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (IsSecret(f)) return true;  // set, so it has a value
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_map()) continue;
    if (!MayHold(f->message_type())) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        if (AnySecretValue(r->GetRepeatedMessage(m, f, i))) return true;
      }
    } else if (AnySecretValue(r->GetMessage(m, f))) {
      return true;
    }
  }
  return false;
}

// The tables whose blobs hold messages with secrets. SQL text is static: statements are cached
// by it.
struct SealedTable {
  const char* name;
  const char* select;
  const char* update;
  int keys;  // leading key columns of `select`, bound in the same order into `update`
  const Message* prototype;
  int integer_key = -1;  // the key column that holds an integer (releases' number), if any
};

const std::vector<SealedTable>& SealedTables() {
  static const auto* tables = new std::vector<SealedTable>{
      {"pipelines", "SELECT name, spec FROM pipelines",
       "UPDATE pipelines SET spec = ?1 WHERE name = ?2", 1, &v1::Pipeline::default_instance()},
      {"runs", "SELECT id, spec FROM runs", "UPDATE runs SET spec = ?1 WHERE id = ?2", 1,
       &v1::Run::default_instance()},
      {"releases", "SELECT pipeline, stage, number, spec FROM releases",
       "UPDATE releases SET spec = ?1 WHERE pipeline = ?2 AND stage = ?3 AND number = ?4", 3,
       &v1::Release::default_instance(), /*integer_key=*/2},
      {"stage_resources", "SELECT pipeline, stage, resource, state FROM stage_resources",
       "UPDATE stage_resources SET state = ?1 WHERE pipeline = ?2 AND stage = ?3 AND resource = ?4",
       3, &v1::ResourceState::default_instance()},
      {"previews", "SELECT uid, spec FROM previews", "UPDATE previews SET spec = ?1 WHERE uid = ?2",
       1, &v1::Preview::default_instance()},
      {"pipeline_revisions", "SELECT pipeline, revision, spec FROM pipeline_revisions",
       "UPDATE pipeline_revisions SET spec = ?1 WHERE pipeline = ?2 AND revision = ?3", 2,
       &v1::Pipeline::default_instance(), /*integer_key=*/1},
  };
  return *tables;
}

constexpr char kKeyIdSetting[] = "secret_key_id";

absl::StatusOr<std::string> RecordedKeyId(Transaction& tx) {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT value FROM settings WHERE name = ?1"));
  stmt->Bind(1, kKeyIdSetting);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  return row ? stmt->ColumnText(0) : std::string();
}

}  // namespace

void SealSecrets(Message* message, const SecretBox& box) {
  ForEachSecret(message, [&](std::string& v) {
    if (!SecretBox::IsSealed(v)) v = box.Seal(v);
    return absl::OkStatus();
  }).IgnoreError();
}

absl::Status OpenSecrets(Message* message, const SecretBox& box) {
  return ForEachSecret(message, [&](std::string& v) -> absl::Status {
    if (!SecretBox::IsSealed(v)) return absl::OkStatus();
    ASSIGN_OR_RETURN(v, box.Open(v));
    return absl::OkStatus();
  });
}

bool HasPlainSecrets(const Message& message) {
  if (!AnySecretValue(message)) return false;
  std::unique_ptr<Message> copy(message.New());
  copy->CopyFrom(message);
  bool plain = false;
  ForEachSecret(copy.get(), [&](std::string& v) {
    plain = plain || !SecretBox::IsSealed(v);
    return absl::OkStatus();
  }).IgnoreError();
  return plain;
}

std::string StoredBytes(const Transaction& tx, const Message& message) {
  if (tx.secrets() == nullptr || !AnySecretValue(message)) return message.SerializeAsString();
  std::unique_ptr<Message> copy(message.New());
  copy->CopyFrom(message);
  SealSecrets(copy.get(), *tx.secrets());
  return copy->SerializeAsString();
}

absl::Status ParseStored(const Transaction& tx, std::string_view bytes, Message* message,
                         std::string_view what) {
  if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat("storage: ", std::string(what), " cannot be decoded"));
  }
  if (tx.secrets() == nullptr || !AnySecretValue(*message)) return absl::OkStatus();
  absl::Status s = OpenSecrets(message, *tx.secrets());
  if (!s.ok())
    return absl::DataLossError(absl::StrCat("storage: ", std::string(what), ": ", s.message()));
  return absl::OkStatus();
}

absl::Status CheckSecretKey(Database& db, const SecretBox& box) {
  return db.Read([&](Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::string recorded, RecordedKeyId(tx));
    if (!recorded.empty() && recorded != box.key_id()) {
      return absl::FailedPreconditionError(
          absl::StrCat("--secret-key-file: this key (id ", box.key_id(),
                       ") is not the one the database's "
                       "secrets are sealed with (id ",
                       recorded, "); give the key file it was created with"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> SecretsSealed(Database& db) {
  bool sealed = false;
  RETURN_IF_ERROR(db.Read([&](Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::string recorded, RecordedKeyId(tx));
    sealed = !recorded.empty();
    return absl::OkStatus();
  }));
  return sealed;
}

absl::StatusOr<int64_t> SealStoredSecrets(Database& db, const SecretBox& box,
                                          const SecretBox* old_box) {
  int64_t rewritten = 0;
  RETURN_IF_ERROR(db.Write([&](Transaction& tx) -> absl::Status {
    for (const SealedTable& t : SealedTables()) {
      struct Row {
        std::vector<std::string> text_keys;  // by key column; the integer key's entry is unused
        int64_t int_key = 0;
        std::string blob;
      };
      std::vector<Row> rows;
      {
        ASSIGN_OR_RETURN(auto stmt, tx.Prepare(t.select));
        while (true) {
          ASSIGN_OR_RETURN(bool more, stmt->Step());
          if (!more) break;
          Row row;
          for (int k = 0; k < t.keys; ++k) {
            if (k == t.integer_key) row.int_key = stmt->ColumnInt(k);
            row.text_keys.push_back(k == t.integer_key ? "" : stmt->ColumnText(k));
          }
          row.blob = stmt->ColumnBlob(t.keys);
          rows.push_back(std::move(row));
        }
      }
      for (Row& row : rows) {
        std::unique_ptr<Message> m(t.prototype->New());
        if (!m->ParseFromString(row.blob)) continue;  // left for its reader to report
        if (old_box != nullptr) {
          absl::Status opened = OpenSecrets(m.get(), *old_box);
          if (!opened.ok()) {
            return absl::DataLossError(absl::StrCat(t.name, ": ", opened.message()));
          }
        } else if (!HasPlainSecrets(*m)) {
          continue;
        }
        SealSecrets(m.get(), box);
        ASSIGN_OR_RETURN(auto up, tx.Prepare(t.update));
        up->BindBlob(1, m->SerializeAsString());
        for (int k = 0; k < t.keys; ++k) {
          if (k == t.integer_key) {
            up->Bind(k + 2, row.int_key);
          } else {
            up->Bind(k + 2, row.text_keys[k]);
          }
        }
        RETURN_IF_ERROR(up->Run());
        ++rewritten;
      }
    }
    ASSIGN_OR_RETURN(auto put,
                     tx.Prepare("INSERT INTO settings (name, value) VALUES (?1, ?2) "
                                "ON CONFLICT (name) DO UPDATE SET value = excluded.value"));
    put->Bind(1, kKeyIdSetting).Bind(2, box.key_id());
    return put->Run();
  }));
  return rewritten;
}

}  // namespace slipway::storage
