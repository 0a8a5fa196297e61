#include "storage/store_copy.h"

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace slipway::storage {
namespace {

enum Kind : char { kText = 'T', kInt = 'I', kBlob = 'B' };

struct Column {
  const char* name;
  Kind kind;
};

// Every table of schema version 15, its columns and its key. A migration that adds a table
// adds it here (CopiesEveryTableOfTheSchema checks).
struct Table {
  const char* name;
  std::vector<Column> columns;
  const char* order_by;
};

const std::vector<Table>& Tables() {
  static const auto* tables = new std::vector<Table>{
      {"settings", {{"name", kText}, {"value", kText}}, "name"},
      {"pipelines",
       {{"name", kText}, {"uid", kText}, {"etag", kText}, {"revision", kInt}, {"spec", kBlob}},
       "name"},
      {"tokens",
       {{"rowid", kInt},
        {"id", kText},
        {"hash", kBlob},
        {"scope", kInt},
        {"description", kText},
        {"created_by", kText},
        {"create_time", kText},
        {"revoke_time", kText}},
       "rowid"},
      {"requests",
       {{"method", kText},
        {"request_id", kText},
        {"fingerprint", kBlob},
        {"response", kBlob},
        {"create_time_ms", kInt}},
       "method, request_id"},
      {"runs",
       {{"id", kText},
        {"seq", kInt},
        {"pipeline", kText},
        {"stage", kText},
        {"state", kInt},
        {"active", kInt},
        {"spec", kBlob}},
       "seq"},
      {"run_events", {{"run_id", kText}, {"seq", kInt}, {"event", kBlob}}, "run_id, seq"},
      {"releases",
       {{"pipeline", kText},
        {"stage", kText},
        {"number", kInt},
        {"run_id", kText},
        {"spec", kBlob}},
       "pipeline, stage, number"},
      {"stage_resources",
       {{"pipeline", kText}, {"stage", kText}, {"resource", kText}, {"state", kBlob}},
       "pipeline, stage, resource"},
      {"stage_holds", {{"pipeline", kText}, {"stage", kText}, {"hold", kBlob}}, "pipeline, stage"},
      {"deliveries",
       {{"id", kText},
        {"seq", kInt},
        {"provider", kInt},
        {"delivery_id", kText},
        {"duplicate", kInt},
        {"spec", kBlob},
        {"receive_ms", kInt},
        {"repository", kText}},
       "seq"},
      {"schedules", {{"key", kText}, {"next_fire_ms", kInt}}, "key"},
      {"webhook_tokens", {{"hash", kBlob}, {"pipeline", kText}, {"name", kText}}, "hash"},
      {"source_bindings",
       {{"provider", kInt}, {"repository", kText}, {"pipeline", kText}},
       "provider, repository, pipeline"},
      {"polled_refs", {{"source_key", kText}, {"ref", kText}, {"sha", kText}}, "source_key, ref"},
      {"poll_schedule",
       {{"source_key", kText}, {"next_poll_ms", kInt}, {"initialized", kInt}},
       "source_key"},
      {"previews",
       {{"uid", kText},
        {"name", kText},
        {"pipeline", kText},
        {"blueprint", kText},
        {"key", kText},
        {"live", kInt},
        {"seq", kInt},
        {"spec", kBlob}},
       "uid"},
      {"preview_subjects",
       {{"pipeline", kText}, {"key", kText}, {"open", kInt}, {"time_ms", kInt}},
       "pipeline, key"},
      {"write_probe", {{"id", kInt}, {"time_ms", kInt}}, "id"},
      {"pipeline_revisions",
       {{"pipeline", kText}, {"revision", kInt}, {"spec", kBlob}, {"meta", kBlob}},
       "pipeline, revision"},
      {"audit_records",
       {{"seq", kInt},
        {"time_ms", kInt},
        {"actor", kText},
        {"action", kText},
        {"target", kText},
        {"record", kBlob}},
       "seq"},
      {"gitops_bindings", {{"pipeline", kText}, {"binding", kBlob}}, "pipeline"},
      {"leases",
       {{"name", kText}, {"owner", kText}, {"token", kInt}, {"expire_ms", kInt}, {"info", kBlob}},
       "name"},
      {"pipeline_changes", {{"seq", kInt}, {"name", kText}}, "seq"},
      {"run_commands",
       {{"seq", kInt},
        {"run_id", kText},
        {"kind", kText},
        {"by_whom", kText},
        {"node", kText},
        {"text", kText},
        {"created_ms", kInt},
        {"state", kInt},
        {"code", kInt},
        {"message", kText}},
       "seq"},
  };
  return *tables;
}

// The statements of one table. Transaction::Prepare caches by the SQL's address, so these
// strings live as long as the process.
struct TableSql {
  std::string select;
  std::string insert;
  std::string count;
};

const std::vector<TableSql>& Sql() {
  static const auto* sql = [] {
    auto* out = new std::vector<TableSql>;
    for (const Table& t : Tables()) {
      std::vector<std::string> names;
      std::vector<std::string> marks;
      for (const Column& c : t.columns) {
        names.emplace_back(c.name);
        marks.emplace_back("?");
      }
      out->push_back({absl::StrCat("SELECT ", absl::StrJoin(names, ", "), " FROM ", t.name,
                                   " ORDER BY ", t.order_by),
                      absl::StrCat("INSERT INTO ", t.name, " (", absl::StrJoin(names, ", "),
                                   ") VALUES (", absl::StrJoin(marks, ", "), ")"),
                      absl::StrCat("SELECT COUNT(*) FROM ", t.name)});
    }
    return out;
  }();
  return *sql;
}

class Hasher {
 public:
  Hasher() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Hasher() { EVP_MD_CTX_free(ctx_); }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  // Each value with its kind and length, so that ("ab","c") and ("a","bc") differ.
  void Add(char kind, const std::string& bytes) {
    std::string head = absl::StrCat(std::string(1, kind), bytes.size(), ":");
    EVP_DigestUpdate(ctx_, head.data(), head.size());
    EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
  }
  std::string Hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, out, &n);
    return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(out), n));
  }

 private:
  EVP_MD_CTX* ctx_;
};

// One row's value of column `i` into the hash (and, if `insert` is set, into its parameter).
void Take(const Statement& row, int i, Kind kind, Hasher& hash, Statement* insert) {
  if (row.ColumnIsNull(i)) {
    hash.Add('N', "");
    if (insert != nullptr) insert->BindNull(i + 1);
    return;
  }
  switch (kind) {
    case kInt: {
      const int64_t v = row.ColumnInt(i);
      hash.Add('I', absl::StrCat(v));
      if (insert != nullptr) insert->Bind(i + 1, v);
      break;
    }
    case kText: {
      const std::string v = row.ColumnText(i);
      hash.Add('T', v);
      if (insert != nullptr) insert->Bind(i + 1, v);
      break;
    }
    case kBlob: {
      const std::string v = row.ColumnBlob(i);
      hash.Add('B', v);
      if (insert != nullptr) insert->BindBlob(i + 1, v);
      break;
    }
  }
}

// Reads table `t` in key order; inserts each row through `to` when it is set.
absl::StatusOr<CopiedTable> Scan(Transaction& from, size_t t, Transaction* to) {
  const Table& table = Tables()[t];
  const TableSql& sql = Sql()[t];
  CopiedTable out{table.name, 0, ""};
  Hasher hash;
  ASSIGN_OR_RETURN(auto select, from.Prepare(sql.select.c_str()));
  while (true) {
    ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) break;
    std::unique_ptr<Statement> insert;
    if (to != nullptr) {
      ASSIGN_OR_RETURN(insert, to->Prepare(sql.insert.c_str()));
    }
    for (size_t i = 0; i < table.columns.size(); ++i) {
      Take(*select, static_cast<int>(i), table.columns[i].kind, hash, insert.get());
    }
    if (insert != nullptr) RETURN_IF_ERROR(insert->Run());
    ++out.rows;
  }
  out.checksum = hash.Hex();
  return out;
}

// Identity columns on PostgreSQL continue after the copied values.
absl::Status ContinueSequences(Transaction& tx) {
  for (const char* sql : {"SELECT setval(pg_get_serial_sequence('audit_records', 'seq'), "
                          "COALESCE((SELECT MAX(seq) FROM audit_records), 0) + 1, false)",
                          "SELECT setval(pg_get_serial_sequence('tokens', 'rowid'), "
                          "COALESCE((SELECT MAX(rowid) FROM tokens), 0) + 1, false)",
                          "SELECT setval(pg_get_serial_sequence('pipeline_changes', 'seq'), "
                          "COALESCE((SELECT MAX(seq) FROM pipeline_changes), 0) + 1, false)",
                          "SELECT setval(pg_get_serial_sequence('run_commands', 'seq'), "
                          "COALESCE((SELECT MAX(seq) FROM run_commands), 0) + 1, false)"}) {
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare(sql));
    RETURN_IF_ERROR(stmt->Run());
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> CopiedTableNames() {
  std::vector<std::string> out;
  for (const Table& t : Tables()) out.emplace_back(t.name);
  return out;
}

absl::StatusOr<std::vector<CopiedTable>> SummarizeStore(Database& db) {
  std::vector<CopiedTable> out;
  RETURN_IF_ERROR(db.Read([&](Transaction& tx) -> absl::Status {
    for (size_t t = 0; t < Tables().size(); ++t) {
      ASSIGN_OR_RETURN(CopiedTable table, Scan(tx, t, nullptr));
      out.push_back(std::move(table));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<CopiedTable>> CopyStore(Database& from, Database& to) {
  if (from.schema_version() != to.schema_version()) {
    return absl::FailedPreconditionError(
        absl::StrCat("store copy: ", from.name(), " is at schema version ", from.schema_version(),
                     " and ", to.name(), " at ", to.schema_version()));
  }
  std::vector<CopiedTable> source;
  RETURN_IF_ERROR(to.Write([&](Transaction& dst) -> absl::Status {
    source.clear();
    for (size_t t = 0; t < Tables().size(); ++t) {
      ASSIGN_OR_RETURN(auto count, dst.Prepare(Sql()[t].count.c_str()));
      ASSIGN_OR_RETURN(bool row, count->Step());
      if (row && count->ColumnInt(0) > 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("store copy: ", to.name(), " is not empty (table ", Tables()[t].name,
                         " has ", count->ColumnInt(0), " rows); copy into a new database"));
      }
    }
    // One snapshot of the source for every table.
    RETURN_IF_ERROR(from.Read([&](Transaction& src) -> absl::Status {
      for (size_t t = 0; t < Tables().size(); ++t) {
        ASSIGN_OR_RETURN(CopiedTable table, Scan(src, t, &dst));
        source.push_back(std::move(table));
      }
      return absl::OkStatus();
    }));
    if (to.backend() == Backend::kPostgres) RETURN_IF_ERROR(ContinueSequences(dst));
    // Read back inside the transaction: a difference leaves nothing behind.
    for (size_t t = 0; t < Tables().size(); ++t) {
      ASSIGN_OR_RETURN(CopiedTable back, Scan(dst, t, nullptr));
      if (back.rows != source[t].rows || back.checksum != source[t].checksum) {
        return absl::DataLossError(absl::StrCat(
            "store copy: table ", back.name, " reads back ", back.rows, " rows (checksum ",
            back.checksum.substr(0, 12), ") but the source has ", source[t].rows, " (",
            source[t].checksum.substr(0, 12), "); nothing was copied"));
      }
    }
    return absl::OkStatus();
  }));
  return source;
}

}  // namespace slipway::storage
