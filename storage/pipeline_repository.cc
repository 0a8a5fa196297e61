#include "storage/pipeline_repository.h"

#include "absl/strings/ascii.h"
#include "common/status_macros.h"
#include "storage/errors.h"
#include "storage/sealed_secrets.h"

namespace slipway::storage {
namespace {

absl::StatusOr<v1::Pipeline> Decode(const Transaction& tx, const std::string& blob,
                                    std::string_view name) {
  v1::Pipeline p;
  RETURN_IF_ERROR(ParseStored(tx, blob, &p, absl::StrCat("pipeline \"", std::string(name), "\"")));
  return p;
}

absl::Status DeleteSourceBindings(Transaction& tx, std::string_view pipeline) {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("DELETE FROM source_bindings WHERE pipeline = ?"));
  stmt->Bind(1, pipeline);
  return stmt->Run();
}

}  // namespace

absl::Status PutSourceBindings(Transaction& tx, const v1::Pipeline& pipeline) {
  RETURN_IF_ERROR(DeleteSourceBindings(tx, pipeline.name()));
  for (const auto& src : pipeline.sources()) {
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO source_bindings (provider, repository, "
                                           "pipeline) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"));
    stmt->Bind(1, static_cast<int64_t>(src.provider()))
        .Bind(2, absl::AsciiStrToLower(src.repository()))
        .Bind(3, pipeline.name());
    RETURN_IF_ERROR(stmt->Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<absl::StatusOr<v1::Pipeline>>> PipelinesBoundTo(
    Transaction& tx, int provider, std::string_view repository) {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT p.name, p.spec FROM source_bindings b JOIN "
                                         "pipelines p ON p.name = b.pipeline WHERE b.provider = "
                                         "? AND b.repository = ?"));
  stmt->Bind(1, static_cast<int64_t>(provider))
      .Bind(2, absl::AsciiStrToLower(std::string(repository)));
  std::vector<absl::StatusOr<v1::Pipeline>> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    out.push_back(Decode(tx, stmt->ColumnBlob(1), stmt->ColumnText(0)));
  }
  return out;
}

absl::StatusOr<v1::Pipeline> PipelineRepository::Get(Transaction& tx, std::string_view name) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT spec FROM pipelines WHERE name = ?"));
  stmt->Bind(1, name);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return NotFound("pipeline", name);
  return Decode(tx, stmt->ColumnBlob(0), name);
}

absl::Status PipelineRepository::Insert(Transaction& tx, const v1::Pipeline& pipeline) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO pipelines (name, uid, etag, revision, spec) "
                                         "VALUES (?, ?, ?, ?, ?)"));
  stmt->Bind(1, pipeline.name())
      .Bind(2, pipeline.uid())
      .Bind(3, pipeline.etag())
      .Bind(4, pipeline.revision())
      .BindBlob(5, StoredBytes(tx, pipeline));
  absl::Status s = stmt->Run();
  if (absl::IsAlreadyExists(s)) return AlreadyExists("pipeline", pipeline.name());
  RETURN_IF_ERROR(s);
  tx.NotePipelineChanged(pipeline.name());
  return PutSourceBindings(tx, pipeline);
}

absl::Status PipelineRepository::Update(Transaction& tx, const v1::Pipeline& pipeline,
                                        std::string_view expected_etag) const {
  {
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare("UPDATE pipelines SET etag = ?, revision = ?, "
                                           "spec = ? WHERE name = ? AND etag = ?"));
    stmt->Bind(1, pipeline.etag())
        .Bind(2, pipeline.revision())
        .BindBlob(3, StoredBytes(tx, pipeline))
        .Bind(4, pipeline.name())
        .Bind(5, expected_etag);
    RETURN_IF_ERROR(stmt->Run());
  }
  if (tx.Changes() == 1) {
    tx.NotePipelineChanged(pipeline.name());
    return PutSourceBindings(tx, pipeline);
  }
  RETURN_IF_ERROR(Get(tx, pipeline.name()).status());
  return EtagMismatch("pipeline", pipeline.name(), expected_etag);
}

absl::Status PipelineRepository::Delete(Transaction& tx, std::string_view name,
                                        std::string_view expected_etag) const {
  {
    ASSIGN_OR_RETURN(auto stmt,
                     tx.Prepare("DELETE FROM pipelines WHERE name = ? AND (? = '' OR etag = ?)"));
    stmt->Bind(1, name).Bind(2, expected_etag).Bind(3, expected_etag);
    RETURN_IF_ERROR(stmt->Run());
  }
  if (tx.Changes() == 1) {
    tx.NotePipelineChanged(name);
    return DeleteSourceBindings(tx, name);
  }
  RETURN_IF_ERROR(Get(tx, name).status());
  return EtagMismatch("pipeline", name, expected_etag);
}

absl::StatusOr<std::vector<v1::Pipeline>> PipelineRepository::List(Transaction& tx,
                                                                   std::string_view prefix,
                                                                   std::string_view after,
                                                                   int limit) const {
  // Prefix match by range so that the primary key index is used; names are ASCII.
  std::string upper = std::string(prefix) + "\x7f";
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT name, spec FROM pipelines WHERE name >= ? AND "
                                         "name < ? AND name > ? ORDER BY name LIMIT ?"));
  stmt->Bind(1, prefix).Bind(2, upper).Bind(3, after).Bind(4, static_cast<int64_t>(limit));
  std::vector<v1::Pipeline> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(v1::Pipeline p, Decode(tx, stmt->ColumnBlob(1), stmt->ColumnText(0)));
    out.push_back(std::move(p));
  }
  return out;
}

absl::Status WebhookTokenRepository::Put(Transaction& tx, std::string_view hash,
                                         std::string_view pipeline, std::string_view name) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO webhook_tokens (hash, pipeline, name) "
                                         "VALUES (?, ?, ?)"));
  stmt->BindBlob(1, hash).Bind(2, pipeline).Bind(3, name);
  return stmt->Run();
}

absl::StatusOr<std::optional<std::pair<std::string, std::string>>> WebhookTokenRepository::Find(
    Transaction& tx, std::string_view hash) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("SELECT pipeline, name FROM webhook_tokens WHERE hash = ?"));
  stmt->BindBlob(1, hash);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::nullopt;
  return std::make_pair(stmt->ColumnText(0), stmt->ColumnText(1));
}

absl::StatusOr<std::vector<std::string>> WebhookTokenRepository::Names(
    Transaction& tx, std::string_view pipeline) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT name FROM webhook_tokens WHERE pipeline = ?"));
  stmt->Bind(1, pipeline);
  std::vector<std::string> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    out.push_back(stmt->ColumnText(0));
  }
  return out;
}

absl::Status WebhookTokenRepository::Delete(Transaction& tx, std::string_view pipeline,
                                            std::string_view name) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("DELETE FROM webhook_tokens WHERE pipeline = ? AND name = ?"));
  stmt->Bind(1, pipeline).Bind(2, name);
  return stmt->Run();
}

absl::StatusOr<std::vector<v1::Pipeline>> PipelineRepository::ListAll(Transaction& tx) const {
  std::vector<v1::Pipeline> all;
  std::string after;
  while (true) {
    ASSIGN_OR_RETURN(auto page, List(tx, "", after, 100));
    if (page.empty()) return all;
    after = page.back().name();
    for (auto& p : page) all.push_back(std::move(p));
  }
}

}  // namespace slipway::storage
