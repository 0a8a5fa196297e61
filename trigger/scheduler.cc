#include "trigger/scheduler.h"

#include <spdlog/spdlog.h>

#include "common/error_reason.h"
#include "absl/strings/str_cat.h"
#include "common/cron.h"
#include "common/duration.h"
#include "common/status_macros.h"
#include "storage/delivery_repository.h"
#include "storage/pipeline_repository.h"

namespace slipway::trigger {

std::optional<std::string> ActiveFreeze(const v1::Stage& stage, absl::Time now) {
  for (const auto& w : stage.protection().freeze_windows()) {
    auto cron = CronSchedule::Parse(w.cron());
    auto length = ParseDuration(w.duration());
    if (!cron.ok() || !length.ok()) continue;
    // Inside the window iff a window started in (now - length, now].
    auto start = cron->Next(now - *length);
    if (start.has_value() && *start <= now) {
      return w.reason().empty() ? std::string("freeze window") : w.reason();
    }
  }
  return std::nullopt;
}

absl::StatusOr<SchedulerReport> Scheduler::Tick() {
  SchedulerReport report;
  const absl::Time now = clock_->Now();
  std::vector<v1::Pipeline> pipelines;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(pipelines, storage::PipelineRepository().ListAll(tx));
    return absl::OkStatus();
  }));
  storage::ScheduleRepository schedules;
  for (const auto& p : pipelines) {
    for (const auto& stage : p.stages()) {
      for (int i = 0; i < stage.triggers_size(); ++i) {
        const auto& t = stage.triggers(i);
        if (!t.has_schedule()) continue;
        auto cron = CronSchedule::Parse(t.schedule().cron());
        if (!cron.ok()) continue;
        // The key changes with the cron text, so an edited schedule starts afresh.
        std::string key = absl::StrCat(p.name(), "/", stage.name(), "/", i, "/", t.schedule().cron());
        std::optional<int64_t> next;
        RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(next, schedules.NextFire(tx, key));
          return absl::OkStatus();
        }));
        auto upcoming = cron->Next(now);
        if (!next.has_value()) {
          // A new schedule waits for its first time; it does not fire at once.
          if (upcoming.has_value()) {
            RETURN_IF_ERROR(db_->Write([&](storage::Transaction& tx) {
              return schedules.SetNextFire(tx, key, absl::ToUnixMillis(*upcoming));
            }));
          }
          continue;
        }
        if (absl::FromUnixMillis(*next) > now) continue;
        std::string skip;
        if (auto frozen = ActiveFreeze(stage, now); frozen.has_value()) {
          skip = absl::StrCat("stage frozen: ", *frozen);
        } else {
          release::StartRequest start;
          start.pipeline = p;
          start.stage = stage.name();
          start.args.insert(t.schedule().args().begin(), t.schedule().args().end());
          start.trigger.set_event("schedule");
          start.trigger.set_source(t.schedule().cron());
          start.trigger.set_actor("scheduler");
          // One run per scheduled time, even if this Tick is repeated after a crash.
          auto run = executor_->Start(start, absl::StrCat("schedule:", key, ":", *next));
          if (run.ok()) {
            ++report.started;
          } else {
            skip = ReasonOf(run.status()) == ErrorReason::kStageHeld
                       ? "stage held"
                       : std::string(run.status().message());
          }
        }
        if (!skip.empty()) {
          ++report.skipped;
          spdlog::info("schedule {} of {}/{} skipped: {}", t.schedule().cron(), p.name(),
                       stage.name(), skip);
        }
        int64_t after_ms = upcoming.has_value() ? absl::ToUnixMillis(*upcoming) : INT64_MAX;
        RETURN_IF_ERROR(db_->Write([&](storage::Transaction& tx) {
          return schedules.SetNextFire(tx, key, after_ms);
        }));
      }
    }
  }
  return report;
}

}  // namespace slipway::trigger
