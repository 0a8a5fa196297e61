#include "server/replica_set.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/run_state.h"
#include "common/status_macros.h"
#include "storage/lease_repository.h"
#include "storage/run_repository.h"

namespace slipway::server {
namespace {

constexpr absl::string_view kReplicaPrefix = "replica/";
constexpr absl::string_view kWorkPrefix = "work/";

std::string ReplicaLease(absl::string_view id) { return absl::StrCat(kReplicaPrefix, id); }
std::string WorkLease(absl::string_view work) { return absl::StrCat(kWorkPrefix, work); }

int64_t Ms(absl::Time t) { return absl::ToUnixMillis(t); }

// Whether a lease row is a replica's own registration (replica/<owner>), not one taken over.
bool SelfRegistered(const storage::Lease& l) {
  return absl::StartsWith(l.name, kReplicaPrefix) &&
         l.name.substr(kReplicaPrefix.size()) == l.owner;
}

}  // namespace

absl::StatusOr<std::vector<v1::Replica>> ListReplicas(storage::Database& db, const Clock& clock) {
  std::vector<storage::Lease> leases;
  std::map<std::string, int64_t> runs;
  RETURN_IF_ERROR(db.Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(leases, storage::LeaseRepository().List(tx, ""));
    ASSIGN_OR_RETURN(std::vector<v1::Run> active, storage::RunRepository().ListActive(tx));
    for (const v1::Run& r : active) ++runs[r.replica()];
    return absl::OkStatus();
  }));
  const int64_t now = Ms(clock.Now());
  std::map<std::string, std::vector<std::string>> work;  // owner → what it holds
  for (const storage::Lease& l : leases) {
    if (l.expire_ms == 0 || SelfRegistered(l)) continue;
    if (absl::StartsWith(l.name, kWorkPrefix)) {
      work[l.owner].push_back(l.name.substr(kWorkPrefix.size()));
    } else if (absl::StartsWith(l.name, kReplicaPrefix)) {
      work[l.owner].push_back(absl::StrCat("runs of ", l.name.substr(kReplicaPrefix.size())));
    }
  }
  std::vector<v1::Replica> out;
  for (const storage::Lease& l : leases) {
    if (!absl::StartsWith(l.name, kReplicaPrefix)) continue;
    v1::Replica r;
    r.ParseFromString(l.info);  // what the replica said of itself; a bad row still lists
    r.set_id(l.name.substr(kReplicaPrefix.size()));
    r.set_live(SelfRegistered(l) && l.expire_ms > now);
    *r.mutable_expire_time() = ProtoTime(absl::FromUnixMillis(l.expire_ms));
    r.set_lease_token(l.token);
    r.clear_work();
    if (SelfRegistered(l)) {
      for (const std::string& w : work[r.id()]) r.add_work(w);
    } else {
      r.add_work(absl::StrCat("(being taken over by ", l.owner, ")"));
    }
    r.set_active_runs(runs[r.id()]);
    out.push_back(std::move(r));
  }
  return out;
}

ReplicaSet::ReplicaSet(storage::Database* db, const Clock* clock, ReplicaSetOptions options,
                       ReplicaHooks hooks)
    : db_(db),
      clock_(clock),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      id_(options_.self.id()),
      self_lease_(ReplicaLease(id_)),
      self_(options_.self) {
  for (const std::string& w : options_.work) gates_[w] = std::make_unique<WorkGate>();
}

void ReplicaSet::SetAddresses(const std::string& grpc, const std::string& http) {
  absl::MutexLock lock(&mu_);
  self_.set_grpc_address(grpc);
  self_.set_http_address(http);
  info_changed_ = true;
}

absl::Duration ReplicaSet::tick_interval() const {
  return std::min(absl::Milliseconds(500), options_.lease / 10);
}

std::string ReplicaSet::Info(absl::Time now) {
  v1::Replica r;
  {
    absl::MutexLock lock(&mu_);
    r = self_;
  }
  *r.mutable_heartbeat_time() = ProtoTime(now);
  *r.mutable_expire_time() = ProtoTime(now + options_.lease);
  if (hooks_.active_runs) r.set_active_runs(hooks_.active_runs());
  return r.SerializeAsString();
}

ReplicaSet::Held ReplicaSet::held() {
  absl::MutexLock lock(&mu_);
  return held_;
}

bool ReplicaSet::lost() {
  absl::MutexLock lock(&mu_);
  return lost_;
}

int64_t ReplicaSet::adopted_runs() {
  absl::MutexLock lock(&mu_);
  return adopted_runs_;
}

void ReplicaSet::SetOwned(const std::string& work, bool owned) {
  auto gate = gates_.find(work);
  if (gate == gates_.end()) return;
  absl::MutexLock lock(&gate->second->mu);
  gate->second->owned = owned;
}

absl::Status ReplicaSet::Join() {
  const absl::Time now = clock_->Now();
  std::optional<storage::Lease> taken;
  const std::string info = Info(now);
  RETURN_IF_ERROR(db_->Write([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<storage::Lease> current,
                     storage::LeaseRepository().Get(tx, self_lease_));
    if (current.has_value() && current->expire_ms > Ms(now)) return absl::OkStatus();
    ASSIGN_OR_RETURN(
        taken, storage::LeaseRepository().Acquire(tx, self_lease_, id(), Ms(now),
                                                  absl::ToInt64Milliseconds(options_.lease), info));
    return absl::OkStatus();
  }));
  if (!taken.has_value()) {
    return absl::AlreadyExistsError(
        absl::StrCat("replica id \"", id(), "\" is held by a live replica"));
  }
  db_->SetWriteFence(storage::WriteFence{self_lease_, id(), taken->token});
  absl::MutexLock lock(&mu_);
  held_[self_lease_] = taken->token;
  renewed_ = now;
  healthy_since_ = now;
  return absl::OkStatus();
}

void ReplicaSet::MarkLost(const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    if (lost_) return;
    lost_ = true;
  }
  for (const std::string& w : options_.work) SetOwned(w, false);
  spdlog::error("replica {}: lease lost, this process writes nothing more: {}", id(),
                std::string(why.message()));
  if (hooks_.lost) hooks_.lost(why);
}

absl::Status ReplicaSet::Renew(absl::Time now) {
  const Held leases = held();
  const std::string info = Info(now);
  std::vector<std::string> gone;
  absl::Status s = db_->Write([&](storage::Transaction& tx) -> absl::Status {
    gone.clear();
    storage::LeaseRepository repo;
    for (const auto& [name, token] : leases) {
      absl::Status renewed =
          repo.Renew(tx, name, id(), token, Ms(now), absl::ToInt64Milliseconds(options_.lease),
                     name == self_lease_ ? info : "");
      if (renewed.ok()) continue;
      if (name == self_lease_ || !absl::IsFailedPrecondition(renewed)) return renewed;
      gone.push_back(name);  // work taken by another while this replica could not renew
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    {
      absl::MutexLock lock(&mu_);
      healthy_since_ = absl::InfiniteFuture();
    }
    // Refused because another replica holds the lease now, or the store is unreachable?
    std::optional<storage::Lease> current;
    absl::Status read = db_->Read([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(current, storage::LeaseRepository().Get(tx, self_lease_));
      return absl::OkStatus();
    });
    if (read.ok() && (!current.has_value() || current->owner != id() ||
                      current->token != leases.at(self_lease_))) {
      MarkLost(s);
      return absl::FailedPreconditionError(
          absl::StrCat("replica ", id(), ": lease lost: ", s.message()));
    }
    return s;
  }
  for (const std::string& name : gone) {
    SetOwned(name.substr(kWorkPrefix.size()), false);
    spdlog::warn("replica {}: {} was taken over by another replica", id(), name);
  }
  absl::MutexLock lock(&mu_);
  for (const std::string& name : gone) held_.erase(name);
  renewed_ = now;
  if (healthy_since_ == absl::InfiniteFuture()) healthy_since_ = now;
  return absl::OkStatus();
}

absl::StatusOr<bool> ReplicaSet::Take(const std::vector<std::string>& names, absl::Time now) {
  const std::string info = Info(now);
  Held taken;
  absl::Status s = db_->Write([&](storage::Transaction& tx) -> absl::Status {
    taken.clear();
    for (const std::string& name : names) {
      ASSIGN_OR_RETURN(std::optional<storage::Lease> l,
                       storage::LeaseRepository().Acquire(tx, name, id(), Ms(now),
                                                          absl::ToInt64Milliseconds(options_.lease),
                                                          name == self_lease_ ? info : ""));
      if (!l.has_value()) return absl::AbortedError(absl::StrCat(name, " is held"));
      taken[name] = l->token;
    }
    return absl::OkStatus();
  });
  if (absl::IsAborted(s)) return false;  // another replica was first
  RETURN_IF_ERROR(s);
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, token] : taken) held_[name] = token;
  }
  for (const auto& [name, token] : taken) {
    if (!absl::StartsWith(name, kWorkPrefix)) continue;
    const std::string work = name.substr(kWorkPrefix.size());
    if (hooks_.work_taken) hooks_.work_taken(work);
    SetOwned(work, true);
    spdlog::info("replica {}: took over {} (token {})", id(), work, token);
  }
  return true;
}

absl::Status ReplicaSet::AdoptHeld() {
  for (const auto& [name, token] : held()) {
    if (name == self_lease_ || !absl::StartsWith(name, kReplicaPrefix)) continue;
    const std::string from = name.substr(kReplicaPrefix.size());
    int adopted = 0;
    if (hooks_.adopt_runs) {
      ASSIGN_OR_RETURN(adopted, hooks_.adopt_runs(from));
    }
    // Its runs are this replica's now: the lease has nothing more to guard.
    RETURN_IF_ERROR(db_->Write([&, name = name, token = token](storage::Transaction& tx) {
      return storage::LeaseRepository().Delete(tx, name, id(), token);
    }));
    spdlog::info("replica {}: adopted {} unfinished run(s) of replica {}", id(), adopted, from);
    absl::MutexLock lock(&mu_);
    held_.erase(name);
    adopted_runs_ += adopted;
  }
  return absl::OkStatus();
}

absl::Status ReplicaSet::TakeOver(absl::Time now) {
  std::vector<storage::Lease> leases;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(leases, storage::LeaseRepository().List(tx, ""));
    return absl::OkStatus();
  }));
  // An owner is dead when none of its leases is still running.
  std::map<std::string, std::vector<std::string>> by_owner;
  std::set<std::string> alive, renewed;  // renewed: not all given up at a clean stop
  for (const storage::Lease& l : leases) {
    if (l.owner == id()) continue;
    by_owner[l.owner].push_back(l.name);
    if (l.expire_ms > Ms(now)) alive.insert(l.owner);
    if (l.expire_ms != 0) renewed.insert(l.owner);
  }
  for (const auto& [owner, names] : by_owner) {
    if (alive.contains(owner)) continue;
    // Work a live replica gave up (expired at 0) needs no takeover; Balance takes it.
    bool dead_registration = false;
    for (const std::string& n : names) dead_registration |= absl::StartsWith(n, kReplicaPrefix);
    if (!dead_registration) continue;
    ASSIGN_OR_RETURN(bool taken, Take(names, now));
    if (taken && renewed.contains(owner)) {
      spdlog::warn("replica {}: replica {} stopped renewing its lease; took over {} lease(s)", id(),
                   owner, names.size());
    } else if (taken) {
      spdlog::info("replica {}: replica {} left; took over {} lease(s)", id(), owner, names.size());
    }
    break;  // one replica per Tick; the next Tick sees the rest
  }
  return AdoptHeld();
}

absl::Status ReplicaSet::Balance(absl::Time now) {
  if (options_.work.empty()) return absl::OkStatus();
  std::vector<storage::Lease> leases;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(leases, storage::LeaseRepository().List(tx, ""));
    return absl::OkStatus();
  }));
  size_t live = 0;
  std::map<std::string, const storage::Lease*> work;
  for (const storage::Lease& l : leases) {
    if (SelfRegistered(l) && l.expire_ms > Ms(now)) ++live;
    if (absl::StartsWith(l.name, kWorkPrefix)) work[l.name] = &l;
  }
  live = std::max<size_t>(live, 1);
  const size_t share = (options_.work.size() + live - 1) / live;
  const Held mine = held();
  size_t owned = 0;
  for (const auto& [name, token] : mine) owned += absl::StartsWith(name, kWorkPrefix) ? 1 : 0;
  if (owned < share) {
    for (const std::string& w : options_.work) {
      auto l = work.find(WorkLease(w));
      // Free: never taken, or given up. (A dead replica's work comes with its takeover.)
      if (l != work.end() && l->second->expire_ms != 0) continue;
      ASSIGN_OR_RETURN(bool taken, Take({WorkLease(w)}, now));
      if (taken) break;
    }
    return absl::OkStatus();
  }
  if (owned > share && live > 1) {
    // Give one up, the last by name; the gate keeps it from being given up mid-step.
    for (auto it = mine.rbegin(); it != mine.rend(); ++it) {
      if (!absl::StartsWith(it->first, kWorkPrefix)) continue;
      const std::string w = it->first.substr(kWorkPrefix.size());
      auto gate = gates_.find(w);
      if (gate == gates_.end()) continue;
      absl::MutexLock lock(&gate->second->mu);
      gate->second->owned = false;
      absl::Status released = db_->Write([&](storage::Transaction& tx) {
        return storage::LeaseRepository().Release(tx, it->first, id(), it->second);
      });
      if (!released.ok()) {
        gate->second->owned = true;
        return released;
      }
      spdlog::info("replica {}: gave up {} ({} live replicas, {} piece(s) of work each)", id(), w,
                   live, share);
      absl::MutexLock held_lock(&mu_);
      held_.erase(it->first);
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status ReplicaSet::Tick() {
  absl::Time now = clock_->Now();
  absl::Time renewed, healthy_since;
  bool info_changed = false;
  {
    absl::MutexLock lock(&mu_);
    if (lost_)
      return absl::FailedPreconditionError(absl::StrCat("replica ", id(), " lost its lease"));
    renewed = renewed_;
    healthy_since = healthy_since_;
    info_changed = std::exchange(info_changed_, false);
  }
  if (now - renewed >= options_.lease / 3 || healthy_since == absl::InfiniteFuture() ||
      info_changed) {
    RETURN_IF_ERROR(Renew(now));
    absl::MutexLock lock(&mu_);
    healthy_since = healthy_since_;
  }
  // Only a replica that has been renewing steadily takes others over: after the store was out
  // for everyone, each gets to renew its own lease first.
  if (now - healthy_since < 2 * tick_interval()) return absl::OkStatus();
  RETURN_IF_ERROR(TakeOver(now));
  return Balance(now);
}

bool ReplicaSet::Owns(const std::string& work) {
  auto gate = gates_.find(work);
  if (gate == gates_.end()) return false;
  absl::MutexLock lock(&gate->second->mu);
  return gate->second->owned;
}

bool ReplicaSet::RunIfOwner(const std::string& work, absl::FunctionRef<void()> fn) {
  auto gate = gates_.find(work);
  if (gate == gates_.end()) return false;
  absl::MutexLock lock(&gate->second->mu);
  if (!gate->second->owned) return false;
  {
    // A lease that may have run out by now is not acted on, even before another takes it.
    absl::MutexLock held_lock(&mu_);
    if (lost_ || clock_->Now() - renewed_ > options_.lease - tick_interval()) return false;
  }
  fn();
  return true;
}

void ReplicaSet::Leave() {
  const Held leases = held();
  for (const std::string& w : options_.work) SetOwned(w, false);
  absl::Status s = db_->Write([&](storage::Transaction& tx) -> absl::Status {
    for (const auto& [name, token] : leases) {
      RETURN_IF_ERROR(storage::LeaseRepository().Release(tx, name, id(), token));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    spdlog::warn("replica {}: could not give up its leases ({}); they run out in {}", id(),
                 std::string(s.message()), absl::FormatDuration(options_.lease));
    return;
  }
  spdlog::info("replica {}: left; its runs and work go to the live replicas", id());
  absl::MutexLock lock(&mu_);
  held_.clear();
}

}  // namespace slipway::server
