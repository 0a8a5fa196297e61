#include "storage/history_repository.h"

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "storage/errors.h"
#include "storage/sealed_secrets.h"

namespace slipway::storage {
namespace {

absl::StatusOr<v1::PipelineRevision> DecodeMeta(const std::string& meta, std::string_view pipeline,
                                                int64_t revision) {
  v1::PipelineRevision r;
  if (!r.ParseFromString(meta)) {
    return absl::DataLossError(absl::StrCat("pipeline \"", std::string(pipeline), "\" revision ",
                                            revision, ": stored record does not parse"));
  }
  r.set_pipeline(std::string(pipeline));
  r.set_revision(revision);
  return r;
}

int64_t TimeMs(const google::protobuf::Timestamp& t) {
  auto time = TimeFromProto(t);
  return time.has_value() ? absl::ToUnixMillis(*time) : 0;
}

}  // namespace

absl::Status PipelineRevisionRepository::Put(Transaction& tx,
                                             const v1::PipelineRevision& revision) const {
  v1::PipelineRevision meta = revision;
  meta.clear_spec();
  meta.clear_pipeline();
  meta.clear_revision();
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO pipeline_revisions (pipeline, revision, "
                                         "spec, meta) VALUES (?, ?, ?, ?)"));
  stmt->Bind(1, revision.pipeline())
      .Bind(2, revision.revision())
      .BindBlob(3, StoredBytes(tx, revision.spec()))
      .BindBlob(4, meta.SerializeAsString());
  absl::Status s = stmt->Run();
  if (absl::IsAlreadyExists(s)) {
    return AlreadyExists("pipeline revision",
                         absl::StrCat(revision.pipeline(), "@", revision.revision()));
  }
  return s;
}

absl::StatusOr<v1::PipelineRevision> PipelineRevisionRepository::Get(Transaction& tx,
                                                                     std::string_view pipeline,
                                                                     int64_t revision) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT spec, meta FROM pipeline_revisions WHERE "
                                         "pipeline = ? AND revision = ?"));
  stmt->Bind(1, pipeline).Bind(2, revision);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("pipeline \"", std::string(pipeline), "\" has no revision ", revision));
  }
  ASSIGN_OR_RETURN(v1::PipelineRevision out, DecodeMeta(stmt->ColumnBlob(1), pipeline, revision));
  RETURN_IF_ERROR(
      ParseStored(tx, stmt->ColumnBlob(0), out.mutable_spec(),
                  absl::StrCat("pipeline \"", std::string(pipeline), "\" revision ", revision)));
  return out;
}

absl::StatusOr<std::vector<v1::PipelineRevision>> PipelineRevisionRepository::List(
    Transaction& tx, std::string_view pipeline, int64_t before, int limit) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("SELECT revision, meta FROM pipeline_revisions WHERE pipeline = ? "
                              "AND (? = 0 OR revision < ?) ORDER BY revision DESC LIMIT ?"));
  stmt->Bind(1, pipeline).Bind(2, before).Bind(3, before).Bind(4, static_cast<int64_t>(limit));
  std::vector<v1::PipelineRevision> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(auto r, DecodeMeta(stmt->ColumnBlob(1), pipeline, stmt->ColumnInt(0)));
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<int64_t> PipelineRevisionRepository::Latest(Transaction& tx,
                                                           std::string_view pipeline) const {
  // Backwards on the primary key: one probe, whatever the planner knows of the table.
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT revision FROM pipeline_revisions WHERE "
                                         "pipeline = ? ORDER BY revision DESC LIMIT 1"));
  stmt->Bind(1, pipeline);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  return row ? stmt->ColumnInt(0) : 0;
}

namespace {

absl::StatusOr<std::unique_ptr<Statement>> AuditInsert(Transaction& tx,
                                                       const v1::AuditRecord& record) {
  v1::AuditRecord stored = record;
  stored.clear_sequence();
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO audit_records (time_ms, actor, action, "
                                         "target, record) VALUES (?, ?, ?, ?, ?) RETURNING seq"));
  stmt->Bind(1, TimeMs(record.time()))
      .Bind(2, record.actor())
      .Bind(3, record.action())
      .Bind(4, record.target())
      .BindBlob(5, stored.SerializeAsString());
  return stmt;
}

absl::StatusOr<int64_t> AuditSequence(Statement& inserted) {
  ASSIGN_OR_RETURN(bool row, inserted.Step());
  if (!row) return absl::InternalError("audit_records: insert returned no sequence");
  return inserted.ColumnInt(0);
}

}  // namespace

absl::StatusOr<int64_t> AuditRepository::Append(Transaction& tx,
                                                const v1::AuditRecord& record) const {
  ASSIGN_OR_RETURN(auto stmt, AuditInsert(tx, record));
  return AuditSequence(*stmt);
}

absl::Status AuditRepository::AppendThen(Transaction& tx, const v1::AuditRecord& record,
                                         std::function<void(int64_t)> sequence) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Statement> stmt, AuditInsert(tx, record));
  RETURN_IF_ERROR(stmt->Prefetch());
  return tx.AfterAnswers([stmt, sequence = std::move(sequence)]() -> absl::Status {
    ASSIGN_OR_RETURN(int64_t seq, AuditSequence(*stmt));
    sequence(seq);
    return absl::OkStatus();
  });
}

namespace {

// The smallest sequence whose record is at or after `ms`, or one past the last (records are
// appended in time order, so time rises with the sequence): a binary search over the sequence
// with point reads, so that the table needs no index on time and appends stay cheap.
absl::StatusOr<int64_t> FirstSequenceAt(Transaction& tx, int64_t ms) {
  ASSIGN_OR_RETURN(auto bounds, tx.Prepare("SELECT COALESCE(MIN(seq), 1), COALESCE(MAX(seq), 0) "
                                           "FROM audit_records"));
  ASSIGN_OR_RETURN(bool row, bounds->Step());
  if (!row) return int64_t{1};
  int64_t lo = bounds->ColumnInt(0);
  int64_t hi = bounds->ColumnInt(1) + 1;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    ASSIGN_OR_RETURN(auto at, tx.Prepare("SELECT seq, time_ms FROM audit_records WHERE seq >= ? "
                                         "ORDER BY seq LIMIT 1"));
    at->Bind(1, mid);
    ASSIGN_OR_RETURN(bool found, at->Step());
    // Not found cannot happen while mid <= MAX(seq); it ends the search if it does.
    if (!found || at->ColumnInt(1) >= ms) {
      hi = mid;
    } else {
      lo = at->ColumnInt(0) + 1;
    }
  }
  return lo;
}

}  // namespace

absl::StatusOr<std::vector<v1::AuditRecord>> AuditRepository::List(Transaction& tx,
                                                                   const AuditQuery& q) const {
  int64_t first = 0;
  if (q.since_ms > 0) {
    ASSIGN_OR_RETURN(first, FirstSequenceAt(tx, q.since_ms));
  }
  ASSIGN_OR_RETURN(
      auto stmt, tx.Prepare("SELECT seq, record FROM audit_records WHERE (?1 = 0 OR seq < ?1) AND "
                            "seq >= ?2 AND (?3 = '' OR actor = ?3) AND (?4 = '' OR target = ?4 OR "
                            "substr(target, 1, length(?4) + 1) = ?4 || '/') AND (?5 = '' OR "
                            "substr(action, 1, length(?5)) = ?5) ORDER BY seq DESC LIMIT ?6"));
  stmt->Bind(1, q.before_sequence)
      .Bind(2, first)
      .Bind(3, q.actor)
      .Bind(4, q.target)
      .Bind(5, q.action)
      .Bind(6, static_cast<int64_t>(q.limit));
  std::vector<v1::AuditRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    v1::AuditRecord r;
    if (!r.ParseFromString(stmt->ColumnBlob(1))) {
      return absl::DataLossError(
          absl::StrCat("audit record ", stmt->ColumnInt(0), ": stored record does not parse"));
    }
    r.set_sequence(stmt->ColumnInt(0));
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<int64_t> AuditRepository::PruneBefore(Transaction& tx, int64_t before_ms) const {
  ASSIGN_OR_RETURN(int64_t first, FirstSequenceAt(tx, before_ms));
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("DELETE FROM audit_records WHERE seq < ?"));
  stmt->Bind(1, first);
  RETURN_IF_ERROR(stmt->Run());
  return tx.Changes();
}

absl::Status GitOpsBindingRepository::Put(Transaction& tx, const v1::GitOpsBinding& binding) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO gitops_bindings (pipeline, binding) VALUES "
                                         "(?, ?) ON CONFLICT (pipeline) DO UPDATE SET binding = "
                                         "excluded.binding"));
  stmt->Bind(1, binding.pipeline()).BindBlob(2, binding.SerializeAsString());
  return stmt->Run();
}

absl::StatusOr<v1::GitOpsBinding> GitOpsBindingRepository::Get(Transaction& tx,
                                                               std::string_view pipeline) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT binding FROM gitops_bindings WHERE pipeline = ?"));
  stmt->Bind(1, pipeline);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("pipeline \"", std::string(pipeline), "\" is not bound to a Git file"));
  }
  v1::GitOpsBinding b;
  if (!b.ParseFromString(stmt->ColumnBlob(0))) {
    return absl::DataLossError(
        absl::StrCat("the Git binding of pipeline \"", std::string(pipeline), "\" does not parse"));
  }
  return b;
}

absl::StatusOr<std::vector<v1::GitOpsBinding>> GitOpsBindingRepository::List(
    Transaction& tx) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT binding FROM gitops_bindings ORDER BY pipeline"));
  std::vector<v1::GitOpsBinding> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    v1::GitOpsBinding b;
    if (!b.ParseFromString(stmt->ColumnBlob(0))) {
      return absl::DataLossError("a stored Git binding does not parse");
    }
    out.push_back(std::move(b));
  }
  return out;
}

absl::StatusOr<bool> GitOpsBindingRepository::Delete(Transaction& tx,
                                                     std::string_view pipeline) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("DELETE FROM gitops_bindings WHERE pipeline = ?"));
  stmt->Bind(1, pipeline);
  RETURN_IF_ERROR(stmt->Run());
  return tx.Changes() > 0;
}

}  // namespace slipway::storage
