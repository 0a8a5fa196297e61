#include "trigger/scheduler.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "common/cron.h"
#include "common/error_reason.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "storage/delivery_repository.h"
#include "storage/pipeline_repository.h"

namespace slipway::trigger {

std::optional<std::string> ActiveFreeze(const v1::Stage& stage, absl::Time now) {
  for (const auto& w : stage.protection().freeze_windows()) {
    auto cron = CronSchedule::Parse(w.cron());
    const absl::Duration length = DurationFromProto(w.duration());
    if (!cron.ok()) continue;
    // Inside the window iff a window started in (now - length, now].
    auto start = cron->Next(now - length);
    if (start.has_value() && *start <= now) {
      return w.reason().empty() ? std::string("freeze window") : w.reason();
    }
  }
  return std::nullopt;
}

namespace {

// The key changes with the cron text, so an edited schedule starts afresh.
std::string ScheduleKey(const std::string& pipeline, const std::string& stage, int index,
                        const std::string& cron) {
  return absl::StrCat(pipeline, "/", stage, "/", index, "/", cron);
}

constexpr int64_t kNever = INT64_MAX;  // DueIndex's "not due"

}  // namespace

absl::Status Scheduler::Sync() {
  // Asked before the store is read: whatever commits meanwhile is seen again next time.
  storage::ChangeFeed::Changes changes = db_->pipeline_changes().Since(feed_next_);
  if (!changes.everything && changes.keys.empty()) return absl::OkStatus();
  std::map<std::string, std::optional<int64_t>> stored;  // key → next fire in the store
  std::map<std::string, Entry> found;
  storage::ScheduleRepository schedules;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<v1::Pipeline> pipelines, ChangedPipelines(tx, changes));
    for (const auto& p : pipelines) {
      for (const auto& stage : p.stages()) {
        for (int i = 0; i < stage.triggers_size(); ++i) {
          const auto& t = stage.triggers(i);
          if (!t.has_schedule()) continue;
          auto cron = CronSchedule::Parse(t.schedule().cron());
          if (!cron.ok()) continue;
          std::string key = ScheduleKey(p.name(), stage.name(), i, t.schedule().cron());
          ASSIGN_OR_RETURN(stored[key], schedules.NextFire(tx, key));
          found[key] = Entry{p.name(), stage.name(), i, t.schedule().cron(), *cron, kNever};
        }
      }
    }
    return absl::OkStatus();
  }));
  // A new schedule waits for its first time; it does not fire at once.
  const absl::Time now = clock_->Now();
  std::vector<std::pair<std::string, int64_t>> first_times;
  for (auto& [key, entry] : found) {
    if (stored[key].has_value()) {
      entry.next_ms = *stored[key];
      continue;
    }
    auto upcoming = entry.cron.Next(now);
    entry.next_ms = upcoming.has_value() ? absl::ToUnixMillis(*upcoming) : kNever;
    if (upcoming.has_value()) first_times.push_back({key, entry.next_ms});
  }
  if (!first_times.empty()) {
    RETURN_IF_ERROR(db_->Write([&](storage::Transaction& tx) -> absl::Status {
      for (const auto& [key, ms] : first_times) RETURN_IF_ERROR(schedules.SetNextFire(tx, key, ms));
      return absl::OkStatus();
    }));
  }
  index_.Replace(changes, std::move(found));
  feed_next_ = changes.next;
  return absl::OkStatus();
}

absl::Status Scheduler::Fire(const std::string& key, absl::Time now, SchedulerReport& report) {
  Entry& entry = *index_.Find(key);
  const int64_t fire_ms = entry.next_ms;
  std::optional<v1::Pipeline> pipeline;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto p = storage::PipelineRepository().Get(tx, entry.pipeline);
    if (p.ok()) {
      pipeline = *std::move(p);
    } else if (!absl::IsNotFound(p.status())) {
      return p.status();
    }
    return absl::OkStatus();
  }));
  const v1::Stage* stage = nullptr;
  if (pipeline.has_value()) {
    for (const auto& s : pipeline->stages()) {
      if (s.name() == entry.stage) stage = &s;
    }
  }
  if (stage == nullptr || entry.trigger >= stage->triggers_size() ||
      stage->triggers(entry.trigger).schedule().cron() != entry.cron_text) {
    // Changed since it was indexed: the change feed brings the new version next time.
    index_.SetNext(key, kNever);
    return absl::OkStatus();
  }
  const v1::Trigger& t = stage->triggers(entry.trigger);
  std::string skip;
  if (auto frozen = ActiveFreeze(*stage, now); frozen.has_value()) {
    skip = absl::StrCat("stage frozen: ", *frozen);
  } else {
    release::StartRequest start;
    start.pipeline = *pipeline;
    start.stage = stage->name();
    start.args.insert(t.schedule().args().begin(), t.schedule().args().end());
    start.trigger.set_event("schedule");
    start.trigger.set_source(t.schedule().cron());
    start.trigger.set_actor("scheduler");
    // One run per scheduled time, even if this Tick is repeated after a crash.
    const std::string request_id = absl::StrCat("schedule:", key, ":", fire_ms);
    auto run = executor_->Start(start, request_id);
    if (audit_ != nullptr) {
      v1::AuditRecord record;
      record.set_actor_kind(v1::ACTOR_KIND_SCHEDULE);
      record.set_actor("schedule");
      record.set_actor_description(entry.cron_text);
      record.set_action("schedule/StartRun");
      record.set_target(absl::StrCat(entry.pipeline, "/", entry.stage));
      record.set_request_id(request_id);
      record.set_outcome(storage::OutcomeOf(run.status()));
      audit_->Record(std::move(record)).IgnoreError();  // logged by Record
    }
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
    spdlog::info("schedule {} of {}/{} skipped: {}", entry.cron_text, entry.pipeline, entry.stage,
                 skip);
  }
  // Missed times fire once: the next time is computed from now.
  auto upcoming = entry.cron.Next(now);
  const int64_t after_ms = upcoming.has_value() ? absl::ToUnixMillis(*upcoming) : kNever;
  RETURN_IF_ERROR(db_->Write([&](storage::Transaction& tx) {
    return storage::ScheduleRepository().SetNextFire(tx, key, after_ms);
  }));
  index_.SetNext(key, after_ms);
  return absl::OkStatus();
}

absl::StatusOr<SchedulerReport> Scheduler::Tick() {
  SchedulerReport report;
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Sync());
  const absl::Time now = clock_->Now();
  for (const std::string& key : index_.DueAt(absl::ToUnixMillis(now))) {
    if (index_.Find(key) != nullptr) RETURN_IF_ERROR(Fire(key, now, report));
  }
  return report;
}

std::optional<absl::Time> Scheduler::NextFire() {
  absl::MutexLock lock(&mu_);
  std::optional<int64_t> next = index_.Earliest();
  if (!next.has_value()) return std::nullopt;
  return absl::FromUnixMillis(*next);
}

int Scheduler::Indexed() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(index_.size());
}

}  // namespace slipway::trigger
