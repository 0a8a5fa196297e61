// Several slipwayd processes on one PostgreSQL store: who is alive, who owns what, and the
// takeover of a replica that stopped. Everything rests on lease rows (storage/lease_repository.h)
// and on writes being serialized by the store, never on session state, so it works through
// PgBouncer's transaction pooling.
//
// - Each process is a replica with a new id ("<host>-<random>") and the lease replica/<id>,
//   whose fencing token guards every write the process makes (Database::SetWriteFence). A
//   heartbeat renews its leases every third of the lease time.
// - Runs belong to the replica that starts them (v1::Run.replica).
// - Background work that must run in one place at a time (the scheduler, the poller, the preview
//   lifecycle, maintenance, the container sweep) is owned through work/<name> leases, spread
//   over the live replicas: a replica holding more than its share gives one up, one holding less
//   takes a free one.
// - When every lease of a replica has run out (killed, paused, cut off), a live replica takes
//   them all over in one transaction. That raises the token of replica/<dead>, so a write the
//   dead one attempts afterwards is refused, and then its runs are adopted (Executor::Adopt).
// - A replica that finds its own lease taken over has lost: every write it tries is refused; it
//   reports the loss once (slipwayd then exits and a supervisor starts it again as a new replica).
//
// ReplicaSet is a step function: Tick() does what is due at the clock's now; a thread drives it.
#ifndef SLIPWAY_SERVER_REPLICA_SET_H_
#define SLIPWAY_SERVER_REPLICA_SET_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "slipway/v1/admin_service.pb.h"
#include "storage/database.h"

namespace slipway::server {

// The background work owned through leases, by name.
inline constexpr const char* kReplicaWork[] = {"scheduler", "poller", "previews", "maintenance",
                                               "sweep"};

struct ReplicaSetOptions {
  // This replica: its id, addresses, version and start time (the other fields are filled in).
  v1::Replica self;
  // How long a lease lasts without renewal: the longest a dead replica's work waits.
  absl::Duration lease = absl::Seconds(10);
  // The work to share out (names from kReplicaWork).
  std::vector<std::string> work;
};

// What the replica set asks of the rest of the process. Every function may be empty.
struct ReplicaHooks {
  // Adopts the unfinished runs of replica `from` (its lease is now this replica's). Returns how
  // many; an error leaves the lease held, and adoption is tried again next Tick.
  std::function<absl::StatusOr<int>(const std::string& from)> adopt_runs;
  // This replica took `work` over (at start, from a dead replica, or given up by another): the
  // work reloads what it keeps in memory from the store.
  std::function<void(const std::string& work)> work_taken;
  // This replica's lease was taken over by another: called once; every later write fails.
  std::function<void(const absl::Status& why)> lost;
  // How many unfinished runs this replica executes, for listings.
  std::function<int64_t()> active_runs;
};

// A replica as listed, from its lease row.
absl::StatusOr<std::vector<v1::Replica>> ListReplicas(storage::Database& db, const Clock& clock);

// Thread-safe.
class ReplicaSet {
 public:
  ReplicaSet(storage::Database* db, const Clock* clock, ReplicaSetOptions options,
             ReplicaHooks hooks);

  // Takes this replica's lease and fences every write of the store with it. ALREADY_EXISTS if
  // a live replica has the same id.
  absl::Status Join();

  // Renews the leases when a heartbeat is due, takes over replicas whose leases ran out, and
  // takes or gives up work to keep the shares even. UNAVAILABLE while the store cannot be
  // reached (nothing is taken over meanwhile); FAILED_PRECONDITION once the lease is lost.
  absl::Status Tick();

  // Runs `fn` if this replica owns `work` and its lease is still good by the local clock; the
  // work is not given up while `fn` runs. Returns whether `fn` ran.
  bool RunIfOwner(const std::string& work, absl::FunctionRef<void()> fn);
  bool Owns(const std::string& work);

  // Gives every lease up (a clean shutdown), so that live replicas adopt the runs and the work
  // at their next Tick instead of after the lease time.
  void Leave();

  // Where this replica serves, once its ports are bound (shown by listings).
  void SetAddresses(const std::string& grpc, const std::string& http);

  bool lost();
  const std::string& id() const { return id_; }
  // How often Tick should run: often enough to notice an expired lease quickly.
  absl::Duration tick_interval() const;
  // Runs adopted from other replicas so far.
  int64_t adopted_runs();

 private:
  struct WorkGate {
    absl::Mutex mu;
    bool owned ABSL_GUARDED_BY(mu) = false;
  };
  // Leases this replica holds, by name, with their tokens.
  using Held = std::map<std::string, int64_t>;

  absl::Status Renew(absl::Time now);
  absl::Status TakeOver(absl::Time now);
  absl::Status Balance(absl::Time now);
  // Takes the leases `names` in one transaction; false (and nothing taken) if another replica
  // got one first.
  absl::StatusOr<bool> Take(const std::vector<std::string>& names, absl::Time now);
  // Adopts the runs of the replicas whose leases (replica/<id>) this replica holds, then drops
  // those leases.
  absl::Status AdoptHeld();
  std::string Info(absl::Time now);
  void MarkLost(const absl::Status& why);
  void SetOwned(const std::string& work, bool owned);
  Held held();

  storage::Database* db_;
  const Clock* clock_;
  const ReplicaSetOptions options_;
  const ReplicaHooks hooks_;
  const std::string id_;
  const std::string self_lease_;

  absl::Mutex mu_;
  v1::Replica self_ ABSL_GUARDED_BY(mu_);
  Held held_ ABSL_GUARDED_BY(mu_);
  // The last successful renewal, and since when renewals have succeeded without a failure.
  absl::Time renewed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time healthy_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool lost_ ABSL_GUARDED_BY(mu_) = false;
  // What the replica says of itself changed: renewed at the next Tick.
  bool info_changed_ ABSL_GUARDED_BY(mu_) = false;
  int64_t adopted_runs_ ABSL_GUARDED_BY(mu_) = 0;
  // One gate per work name, created at construction (the map itself never changes).
  std::map<std::string, std::unique_ptr<WorkGate>> gates_;
};

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_REPLICA_SET_H_
