// The executor's write journal: every change of its runs that is not yet committed (run records,
// events, deployed workloads, releases and holds), and the driver work that may start only once
// they are. The executor adds to it under its lock; Commit takes a batch, writes it in one
// transaction with the lock released (group commit), and restores it if the write fails, so
// nothing is announced or started before it is on disk.
//
// Not thread-safe: owned and guarded by the executor.
#ifndef SLIPWAY_RELEASE_RUN_JOURNAL_H_
#define SLIPWAY_RELEASE_RUN_JOURNAL_H_

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "slipway/v1/release.pb.h"
#include "storage/database.h"

namespace slipway::release {

struct StageKey {
  std::string pipeline;
  std::string stage;
  auto operator<=>(const StageKey&) const = default;
};

// What one commit writes (and, on failure, gives back).
struct JournalBatch {
  std::vector<std::string> run_ids;  // runs whose record changed
  std::vector<v1::RunEvent> events;
  std::vector<std::pair<StageKey, v1::ResourceState>> resources;
  std::vector<v1::Release> releases;
  // Holds placed by successful rollbacks, keyed by run id; pinned to the release they record.
  std::map<std::string, v1::StageHold> holds;
  std::vector<std::function<void()>> tasks;

  bool writes_nothing() const {
    return run_ids.empty() && events.empty() && resources.empty() && releases.empty();
  }
};

class RunJournal {
 public:
  void MarkDirty(std::string run_id) { dirty_.push_back(std::move(run_id)); }
  void AddEvent(v1::RunEvent e) { events_.push_back(std::move(e)); }
  void AddResource(StageKey stage, v1::ResourceState state) {
    resources_.push_back({std::move(stage), std::move(state)});
  }
  void AddRelease(v1::Release release) { releases_.push_back(std::move(release)); }
  void AddHold(const std::string& run_id, v1::StageHold hold) { holds_[run_id] = std::move(hold); }
  void AddTask(std::function<void()> task) { tasks_.push_back(std::move(task)); }

  // Whether anything is waiting to be written (tasks alone wait for their state's commit).
  bool has_writes() const { return !dirty_.empty() || !resources_.empty() || !releases_.empty(); }
  size_t event_count() const { return events_.size(); }
  // Takes the events added since there were `count` (a new run's first events, which its Start
  // writes itself).
  std::vector<v1::RunEvent> TakeEventsFrom(size_t count);
  // Takes the dirty mark of `run_id` if it is the last one added.
  bool TakeLastDirty(const std::string& run_id);
  // Drops everything of a run that will not be written (a start that did not commit).
  void Forget(const std::string& run_id);

  // Takes what the next commit writes. Runs for which `defer` is true (their first state is
  // still being written by their Start) stay, with their events. A batch that writes nothing
  // is given back (Restore) by a caller with nothing else to write: its tasks and holds wait.
  JournalBatch Take(const std::function<bool(const std::string&)>& defer);
  // Gives back a batch whose commit failed, ahead of what was added meanwhile. Its run ids are
  // the caller's to list again.
  void Restore(JournalBatch batch);

 private:
  std::vector<std::string> dirty_;
  std::vector<v1::RunEvent> events_;
  std::vector<std::pair<StageKey, v1::ResourceState>> resources_;
  std::vector<v1::Release> releases_;
  std::map<std::string, v1::StageHold> holds_;
  std::vector<std::function<void()>> tasks_;
};

// Writes a batch in `tx`: workloads, then releases (with the stage's workloads as they now are)
// and their holds, then the run records (`runs`, by id, with their release numbers set), then
// the events. Fills `release_numbers` (run id → release number).
absl::Status WriteBatch(storage::Transaction& tx, const JournalBatch& batch,
                        const std::map<std::string, v1::Run>& runs,
                        const google::protobuf::Timestamp& now,
                        std::map<std::string, int64_t>& release_numbers);

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_RUN_JOURNAL_H_
