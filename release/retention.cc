#include "release/retention.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/run_state.h"
#include "common/status_macros.h"
#include "storage/pipeline_repository.h"
#include "storage/run_repository.h"

namespace slipway::release {
namespace {

absl::Status PruneStage(storage::Database& db, const Clock& clock, const std::string& pipeline,
                        const v1::Stage& stage, RetentionReport& report) {
  const v1::Retention& keep = stage.retention();
  return db.Write([&](storage::Transaction& tx) -> absl::Status {
    storage::ReleaseRepository releases;
    storage::RunRepository runs;
    if (keep.keep_releases() > 0) {
      ASSIGN_OR_RETURN(auto latest, releases.Latest(tx, pipeline, stage.name()));
      if (latest.has_value() && latest->number() > keep.keep_releases()) {
        std::set<int64_t> protect = {latest->number()};
        ASSIGN_OR_RETURN(auto before,
                         releases.List(tx, pipeline, stage.name(), latest->number(), 1));
        if (!before.empty()) protect.insert(before.front().number());
        ASSIGN_OR_RETURN(auto hold, storage::StageHoldRepository().Get(tx, pipeline, stage.name()));
        if (hold.has_value() && hold->pinned_release() > 0) protect.insert(hold->pinned_release());
        ASSIGN_OR_RETURN(auto active, runs.ListActive(tx, pipeline, stage.name()));
        for (const auto& r : active) {
          if (r.kind() == v1::RUN_KIND_ROLLBACK && r.rollback_to() > 0)
            protect.insert(r.rollback_to());
        }
        // At most one rollback runs per stage (rollbacks replace each other), so four is enough.
        std::vector<int64_t> keep_list(protect.begin(), protect.end());
        if (keep_list.size() > 4) keep_list.resize(4);
        ASSIGN_OR_RETURN(int64_t deleted,
                         releases.DeleteUpTo(tx, pipeline, stage.name(),
                                             latest->number() - keep.keep_releases(), keep_list));
        report.releases_deleted += deleted;
      }
    }
    if (keep.has_keep_run_logs()) {
      const absl::Time cutoff = clock.Now() - DurationFromProto(keep.keep_run_logs());
      int64_t before_seq = 0;
      while (true) {
        storage::RunFilter filter{pipeline, stage.name(), {}, before_seq, 500};
        ASSIGN_OR_RETURN(auto page, runs.List(tx, filter));
        if (page.empty()) break;
        for (const auto& r : page) {
          // An end time that cannot be read keeps the run's events (never deleted by mistake).
          std::optional<absl::Time> ended = TimeFromProto(r.end_time());
          if (RunActive(r.state()) || !ended.has_value() || *ended >= cutoff) continue;
          ASSIGN_OR_RETURN(int64_t n, runs.DeleteEvents(tx, r.id()));
          report.events_deleted += n;
        }
        ASSIGN_OR_RETURN(before_seq, runs.SequenceOf(tx, page.back().id()));
        if (page.size() < 500) break;
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace

absl::StatusOr<RetentionReport> PruneHistory(storage::Database& db, const Clock& clock) {
  RetentionReport report;
  std::string after;
  while (true) {
    std::vector<v1::Pipeline> page;
    RETURN_IF_ERROR(db.Read([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(page, storage::PipelineRepository().List(tx, "", after, 100));
      return absl::OkStatus();
    }));
    if (page.empty()) break;
    for (const auto& p : page) {
      for (const auto& stage : p.stages()) {
        if (stage.retention().keep_releases() == 0 && !stage.retention().has_keep_run_logs()) {
          continue;
        }
        RETURN_IF_ERROR(PruneStage(db, clock, p.name(), stage, report));
      }
    }
    after = page.back().name();
  }
  return report;
}

}  // namespace slipway::release
