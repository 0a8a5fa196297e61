#include "release/run_journal.h"

#include <algorithm>
#include <cstddef>
#include <iterator>

#include "common/status_macros.h"
#include "release/recording.h"
#include "storage/run_repository.h"

namespace slipway::release {

std::vector<v1::RunEvent> RunJournal::TakeEventsFrom(size_t count) {
  std::vector<v1::RunEvent> out(
      std::make_move_iterator(events_.begin() + static_cast<std::ptrdiff_t>(count)),
      std::make_move_iterator(events_.end()));
  events_.resize(count);
  return out;
}

bool RunJournal::TakeLastDirty(const std::string& run_id) {
  if (dirty_.empty() || dirty_.back() != run_id) return false;
  dirty_.pop_back();
  return true;
}

void RunJournal::Forget(const std::string& run_id) {
  dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), run_id), dirty_.end());
  events_.erase(std::remove_if(events_.begin(), events_.end(),
                               [&](const v1::RunEvent& e) { return e.run_id() == run_id; }),
                events_.end());
}

JournalBatch RunJournal::Take(const std::function<bool(const std::string&)>& defer) {
  JournalBatch b;
  std::vector<std::string> deferred_runs;
  std::vector<v1::RunEvent> deferred_events;
  for (std::string& id : dirty_) (defer(id) ? deferred_runs : b.run_ids).push_back(std::move(id));
  for (v1::RunEvent& e : events_) {
    (defer(e.run_id()) ? deferred_events : b.events).push_back(std::move(e));
  }
  dirty_ = std::move(deferred_runs);
  events_ = std::move(deferred_events);
  b.resources.swap(resources_);
  b.releases.swap(releases_);
  b.holds.swap(holds_);
  b.tasks.swap(tasks_);
  return b;
}

void RunJournal::Restore(JournalBatch batch) {
  batch.events.insert(batch.events.end(), std::make_move_iterator(events_.begin()),
                      std::make_move_iterator(events_.end()));
  events_ = std::move(batch.events);
  batch.resources.insert(batch.resources.end(), resources_.begin(), resources_.end());
  resources_ = std::move(batch.resources);
  batch.releases.insert(batch.releases.end(), releases_.begin(), releases_.end());
  releases_ = std::move(batch.releases);
  batch.holds.insert(holds_.begin(), holds_.end());
  holds_ = std::move(batch.holds);
  batch.tasks.insert(batch.tasks.end(), std::make_move_iterator(tasks_.begin()),
                     std::make_move_iterator(tasks_.end()));
  tasks_ = std::move(batch.tasks);
}

absl::Status WriteBatch(storage::Transaction& tx, const JournalBatch& batch,
                        const std::map<std::string, v1::Run>& runs,
                        const google::protobuf::Timestamp& now,
                        std::map<std::string, int64_t>& release_numbers) {
  release_numbers.clear();
  storage::StageResourceRepository resources;
  for (const auto& [stage, state] : batch.resources) {
    RETURN_IF_ERROR(resources.Put(tx, stage.pipeline, stage.stage, state));
  }
  RETURN_IF_ERROR(RecordReleases(tx, batch.releases, batch.holds, now, release_numbers));
  storage::RunRepository repo;
  for (const auto& [id, run] : runs) {
    v1::Run written = run;
    if (auto n = release_numbers.find(id); n != release_numbers.end()) {
      written.set_release(n->second);
    }
    RETURN_IF_ERROR(repo.Put(tx, written));
  }
  RETURN_IF_ERROR(repo.AppendEvents(tx, batch.events));
  return absl::OkStatus();
}

}  // namespace slipway::release
