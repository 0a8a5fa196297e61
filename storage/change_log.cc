// The change log of pipelines that replicas sharing a PostgreSQL store read to learn of each
// other's changes (schema 16, table pipeline_changes): written with every write batch that
// changed a pipeline, followed by each replica, pruned by maintenance.
#include <string>
#include <vector>

#include "common/status_macros.h"
#include "storage/database.h"

namespace slipway::storage {

absl::Status Database::LogPipelineChanges(Transaction& tx, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO pipeline_changes (name) VALUES (?)"));
    stmt->Bind(1, name);
    RETURN_IF_ERROR(stmt->Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Database::FollowOtherWriters() {
  if (backend_ != Backend::kPostgres) return 0;
  absl::MutexLock lock(&follow_mu_);
  std::vector<std::string> names;
  int64_t last = followed_seq_;
  RETURN_IF_ERROR(Read([&](Transaction& tx) -> absl::Status {
    if (last < 0) {
      // The first call: changes from now on (readers of the feed start by reading everything).
      ASSIGN_OR_RETURN(auto max, tx.Prepare("SELECT COALESCE(MAX(seq), 0) FROM pipeline_changes"));
      ASSIGN_OR_RETURN(bool row, max->Step());
      last = row ? max->ColumnInt(0) : 0;
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT seq, name FROM pipeline_changes WHERE seq > ? "
                                           "ORDER BY seq LIMIT 4096"));
    stmt->Bind(1, last);
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (!row) break;
      last = stmt->ColumnInt(0);
      names.push_back(stmt->ColumnText(1));
    }
    return absl::OkStatus();
  }));
  followed_seq_ = last;
  if (!names.empty()) pipeline_changes_.Publish(names);
  return names.size();
}

absl::StatusOr<int64_t> Database::PruneChangeLog(int64_t keep) {
  if (backend_ != Backend::kPostgres) return 0;
  int64_t deleted = 0;
  RETURN_IF_ERROR(Write([&](Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt,
                     tx.Prepare("DELETE FROM pipeline_changes WHERE seq <= (SELECT MAX(seq) FROM "
                                "pipeline_changes) - ?"));
    stmt->Bind(1, keep);
    RETURN_IF_ERROR(stmt->Run());
    deleted = tx.Changes();
    return absl::OkStatus();
  }));
  return deleted;
}

}  // namespace slipway::storage
