#include "storage/preview_repository.h"

#include "common/status_macros.h"
#include "storage/errors.h"
#include "storage/sealed_secrets.h"

namespace slipway::storage {
namespace {

absl::StatusOr<v1::Preview> Decode(const Transaction& tx, const std::string& blob) {
  v1::Preview p;
  RETURN_IF_ERROR(ParseStored(tx, blob, &p, "preview"));
  return p;
}

absl::StatusOr<std::optional<v1::Preview>> One(const Transaction& tx, Statement& stmt) {
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::nullopt;
  ASSIGN_OR_RETURN(v1::Preview p, Decode(tx, stmt.ColumnBlob(0)));
  return p;
}

}  // namespace

absl::Status PreviewRepository::Put(Transaction& tx, const v1::Preview& preview) const {
  int64_t seq = 1;
  {
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT COALESCE(MAX(seq), 0) + 1 FROM previews"));
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (row) seq = stmt->ColumnInt(0);
  }
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("INSERT INTO previews (uid, name, pipeline, blueprint, key, live, "
                              "seq, spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO "
                              "UPDATE SET name = excluded.name, live = excluded.live, "
                              "seq = excluded.seq, spec = excluded.spec"));
  stmt->Bind(1, preview.uid())
      .Bind(2, preview.name())
      .Bind(3, preview.pipeline())
      .Bind(4, preview.blueprint())
      .Bind(5, preview.key())
      .Bind(6, static_cast<int64_t>(preview.state() == v1::PREVIEW_STATE_DELETED ? 0 : 1))
      .Bind(7, seq)
      .BindBlob(8, StoredBytes(tx, preview));
  absl::Status s = stmt->Run();
  if (absl::IsAlreadyExists(s)) return AlreadyExists("live preview", preview.name());
  return s;
}

absl::StatusOr<std::optional<v1::Preview>> PreviewRepository::FindByName(
    Transaction& tx, std::string_view name) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT spec FROM previews WHERE name = ? "
                                         "ORDER BY live DESC, seq DESC LIMIT 1"));
  stmt->Bind(1, name);
  return One(tx, *stmt);
}

absl::StatusOr<std::optional<v1::Preview>> PreviewRepository::FindLive(Transaction& tx,
                                                                       std::string_view pipeline,
                                                                       std::string_view blueprint,
                                                                       std::string_view key) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT spec FROM previews WHERE pipeline = ? AND "
                                         "blueprint = ? AND key = ? AND live = 1"));
  stmt->Bind(1, pipeline).Bind(2, blueprint).Bind(3, key);
  return One(tx, *stmt);
}

absl::StatusOr<bool> PreviewRepository::NameTaken(Transaction& tx, std::string_view name) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT 1 FROM previews WHERE name = ? AND live = 1"));
  stmt->Bind(1, name);
  return stmt->Step();
}

absl::StatusOr<std::vector<v1::Preview>> PreviewRepository::List(Transaction& tx,
                                                                 std::string_view pipeline,
                                                                 bool include_deleted) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("SELECT spec FROM previews WHERE (? = '' OR pipeline = ?) AND "
                              "(? = 1 OR live = 1) ORDER BY rowid"));
  stmt->Bind(1, pipeline).Bind(2, pipeline).Bind(3, static_cast<int64_t>(include_deleted ? 1 : 0));
  std::vector<v1::Preview> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(v1::Preview p, Decode(tx, stmt->ColumnBlob(0)));
    out.push_back(std::move(p));
  }
  return out;
}

absl::Status PreviewRepository::SetSubjectOpen(Transaction& tx, std::string_view pipeline,
                                               std::string_view key, bool open,
                                               int64_t time_ms) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO preview_subjects (pipeline, key, open, "
                                         "time_ms) VALUES (?, ?, ?, ?) ON CONFLICT (pipeline, "
                                         "key) DO UPDATE SET open = excluded.open, time_ms = "
                                         "excluded.time_ms"));
  stmt->Bind(1, pipeline).Bind(2, key).Bind(3, static_cast<int64_t>(open ? 1 : 0)).Bind(4, time_ms);
  return stmt->Run();
}

absl::StatusOr<std::optional<bool>> PreviewRepository::SubjectOpen(Transaction& tx,
                                                                   std::string_view pipeline,
                                                                   std::string_view key) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("SELECT open FROM preview_subjects WHERE pipeline = ? AND key = ?"));
  stmt->Bind(1, pipeline).Bind(2, key);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::nullopt;
  return stmt->ColumnInt(0) != 0;
}

}  // namespace slipway::storage
