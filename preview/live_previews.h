// The live previews (every state but DELETED) in memory, indexed the ways the preview manager
// looks them up: by uid, by name, by the subject they serve (pipeline, blueprint and pull
// request or branch key), by blueprint (for budgets) and by branch (for branch deletions).
//
// It also keeps the work set, so that the manager's Tick visits only previews with something to
// do: the pending ones (queued, being created, updated or torn down, pausing) and the timers
// (an expiry of a running preview, a teardown retry), earliest first. A ready preview with no
// expiry costs nothing at idle.
//
// Not thread-safe: the preview manager guards it with its lock.
#ifndef SLIPWAY_PREVIEW_LIVE_PREVIEWS_H_
#define SLIPWAY_PREVIEW_LIVE_PREVIEWS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "slipway/v1/preview.pb.h"

namespace slipway::preview {

// Whether a preview in this state has work for every Tick (a run or a task to follow).
bool HasPendingWork(const v1::Preview& p);
// When a preview next has timed work (its expiry while running, a teardown retry), if ever.
// A time that cannot be read is never.
std::optional<absl::Time> TimedWork(const v1::Preview& p);

class LivePreviews {
 public:
  // Adds or replaces the preview with p's uid; a DELETED one is removed.
  void Put(v1::Preview p);
  void Erase(const std::string& uid);

  const v1::Preview* ByUid(const std::string& uid) const;
  const v1::Preview* ByName(const std::string& name) const;
  const v1::Preview* BySubject(const std::string& pipeline, const std::string& blueprint,
                               const std::string& key) const;
  // The blueprint's live previews, in no particular order.
  std::vector<const v1::Preview*> OfBlueprint(const std::string& pipeline,
                                              const std::string& blueprint) const;
  // The live previews of `branch` of the pipeline's source `source`, whichever blueprint.
  std::vector<const v1::Preview*> OfBranch(const std::string& pipeline, const std::string& source,
                                           const std::string& branch) const;

  // Uids of the previews Tick should step at `now`: the pending ones and the due timers.
  std::vector<std::string> WorkAt(absl::Time now) const;
  std::optional<absl::Time> NextTimer() const;

  const std::map<std::string, v1::Preview>& all() const { return by_uid_; }
  size_t size() const { return by_uid_.size(); }
  void clear();

 private:
  using SubjectKey = std::tuple<std::string, std::string, std::string>;
  using BranchKey = std::tuple<std::string, std::string, std::string>;
  using BlueprintKey = std::pair<std::string, std::string>;

  std::map<std::string, v1::Preview> by_uid_;
  std::map<std::string, std::string> by_name_;
  std::map<SubjectKey, std::string> by_subject_;
  std::map<BlueprintKey, std::set<std::string>> by_blueprint_;
  std::map<BranchKey, std::set<std::string>> by_branch_;
  std::set<std::string> pending_;
  std::set<std::pair<absl::Time, std::string>> timers_;
  std::map<std::string, absl::Time> timer_of_;
};

}  // namespace slipway::preview

#endif  // SLIPWAY_PREVIEW_LIVE_PREVIEWS_H_
