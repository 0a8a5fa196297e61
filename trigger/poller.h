// Repository polling, for Git hosts that cannot send webhooks: at each source's poll interval
// the repository's branches and tags are listed (like `git ls-remote`), compared with what the
// last poll saw, and each change — a new or moved branch, a new tag, a deleted branch — is
// handled like a webhook push. A repository that cannot be reached changes nothing: it never
// counts as "branch deleted".
#ifndef SLIPWAY_TRIGGER_POLLER_H_
#define SLIPWAY_TRIGGER_POLLER_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "storage/database.h"
#include "trigger/due_index.h"
#include "trigger/intake.h"

namespace slipway::trigger {

// What a ref change brings: the messages of its new commits and the files they touch (both
// bounded), so that skip flags and path rules apply to polled repositories too.
struct CommitChanges {
  std::vector<std::string> messages;
  std::vector<std::string> files;
};

// Lists a repository's refs: "refs/heads/main" → commit. Thread-safe in every implementation.
class RefLister {
 public:
  virtual ~RefLister() = default;
  // UNAVAILABLE when the repository cannot be reached.
  virtual absl::StatusOr<std::map<std::string, std::string>> ListRefs(const std::string& url) = 0;
  // The commits reachable from `after` and not from `before` (for a new ref: not from any of
  // `known`), at most `max_commits` of them. UNIMPLEMENTED where commits cannot be read;
  // UNAVAILABLE when they cannot be fetched.
  virtual absl::StatusOr<CommitChanges> DescribeChange(const std::string& /*url*/,
                                                       const std::string& /*before*/,
                                                       const std::string& /*after*/,
                                                       const std::vector<std::string>& /*known*/,
                                                       int /*max_commits*/) {
    return absl::UnimplementedError("this lister reads no commits");
  }
};

// RefLister over libgit2: refs are listed without a local clone, over any transport libgit2
// supports (local paths, file://, https://, ssh://). Commits are read from a bare mirror per
// repository under `mirror_dir`, fetched when a change names a commit it lacks; without a
// mirror dir no commits are read.
class Libgit2RefLister final : public RefLister {
 public:
  explicit Libgit2RefLister(std::string mirror_dir = "");
  ~Libgit2RefLister() override;
  absl::StatusOr<std::map<std::string, std::string>> ListRefs(const std::string& url) override;
  absl::StatusOr<CommitChanges> DescribeChange(const std::string& url, const std::string& before,
                                               const std::string& after,
                                               const std::vector<std::string>& known,
                                               int max_commits) override;

 private:
  const std::string mirror_dir_;
  absl::Mutex mu_;  // one fetch into the mirrors at a time
};

struct PollReport {
  int polled = 0;
  int events = 0;
  int unreachable = 0;
};

// Thread-safe: Tick serializes itself. Does not own its collaborators.
//
// Keeps its own schedule of the sources to poll, earliest first, built once from the store and
// updated from the database's pipeline change feed: an idle Tick reads nothing, and only a
// source that is due is read, listed and compared.
class Poller {
 public:
  Poller(storage::Database* db, WebhookIntake* intake, RefLister* lister, const Clock* clock)
      : db_(db), intake_(intake), lister_(lister), clock_(clock) {}

  // Polls every source that is due at the clock's now. The first poll of a source only
  // records what it sees.
  absl::StatusOr<PollReport> Tick();
  // Builds the index again from the store at the next Tick: this process has just taken the
  // work over from another replica, whose changes its index may not hold.
  void Resync() {
    absl::MutexLock lock(&mu_);
    feed_next_ = 0;
  }

  // Number of polled sources in the schedule.
  int Scheduled();

 private:
  struct Entry {
    std::string pipeline;
    std::string source;
    std::string clone_url;
    absl::Duration interval;
    int64_t next_ms = 0;
  };
  absl::Status Sync() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Polls the source `key`, which is due at `now`.
  absl::Status Poll(const std::string& key, absl::Time now, PollReport& report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  storage::Database* db_;
  WebhookIntake* intake_;
  RefLister* lister_;
  const Clock* clock_;

  absl::Mutex mu_;
  uint64_t feed_next_ ABSL_GUARDED_BY(mu_) = 0;
  DueIndex<Entry> index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slipway::trigger

#endif  // SLIPWAY_TRIGGER_POLLER_H_
