#include "preview/live_previews.h"

#include "common/proto_time.h"

namespace slipway::preview {

bool HasPendingWork(const v1::Preview& p) {
  switch (p.state()) {
    case v1::PREVIEW_STATE_QUEUED:
    case v1::PREVIEW_STATE_CREATING:
    case v1::PREVIEW_STATE_UPDATING:
    case v1::PREVIEW_STATE_TEARING_DOWN:
      return true;
    case v1::PREVIEW_STATE_PAUSED:
      return !p.stopped();  // its resources are still to be stopped
    default:
      return false;
  }
}

std::optional<absl::Time> TimedWork(const v1::Preview& p) {
  const google::protobuf::Timestamp* text = nullptr;
  switch (p.state()) {
    case v1::PREVIEW_STATE_READY:
    case v1::PREVIEW_STATE_FAILED:
    case v1::PREVIEW_STATE_PAUSED:
      text = &p.expire_time();
      break;
    case v1::PREVIEW_STATE_TEARING_DOWN:
      text = &p.retry_time();
      break;
    default:
      return std::nullopt;
  }
  return TimeFromProto(*text);
}

void LivePreviews::Erase(const std::string& uid) {
  auto it = by_uid_.find(uid);
  if (it == by_uid_.end()) return;
  const v1::Preview& p = it->second;
  by_name_.erase(p.name());
  by_subject_.erase({p.pipeline(), p.blueprint(), p.key()});
  auto erase_from = [&](auto& index, const auto& key) {
    auto set = index.find(key);
    if (set == index.end()) return;
    set->second.erase(uid);
    if (set->second.empty()) index.erase(set);
  };
  erase_from(by_blueprint_, BlueprintKey{p.pipeline(), p.blueprint()});
  erase_from(by_branch_, BranchKey{p.pipeline(), p.subject().source(), p.subject().branch()});
  pending_.erase(uid);
  if (auto t = timer_of_.find(uid); t != timer_of_.end()) {
    timers_.erase({t->second, uid});
    timer_of_.erase(t);
  }
  by_uid_.erase(it);
}

void LivePreviews::Put(v1::Preview p) {
  const std::string uid = p.uid();
  Erase(uid);
  if (p.state() == v1::PREVIEW_STATE_DELETED) return;
  by_name_[p.name()] = uid;
  by_subject_[{p.pipeline(), p.blueprint(), p.key()}] = uid;
  by_blueprint_[{p.pipeline(), p.blueprint()}].insert(uid);
  by_branch_[{p.pipeline(), p.subject().source(), p.subject().branch()}].insert(uid);
  if (HasPendingWork(p)) pending_.insert(uid);
  if (std::optional<absl::Time> t = TimedWork(p); t.has_value()) {
    timers_.insert({*t, uid});
    timer_of_[uid] = *t;
  }
  by_uid_[uid] = std::move(p);
}

void LivePreviews::clear() {
  by_uid_.clear();
  by_name_.clear();
  by_subject_.clear();
  by_blueprint_.clear();
  by_branch_.clear();
  pending_.clear();
  timers_.clear();
  timer_of_.clear();
}

const v1::Preview* LivePreviews::ByUid(const std::string& uid) const {
  auto it = by_uid_.find(uid);
  return it == by_uid_.end() ? nullptr : &it->second;
}

const v1::Preview* LivePreviews::ByName(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : ByUid(it->second);
}

const v1::Preview* LivePreviews::BySubject(const std::string& pipeline,
                                           const std::string& blueprint,
                                           const std::string& key) const {
  auto it = by_subject_.find({pipeline, blueprint, key});
  return it == by_subject_.end() ? nullptr : ByUid(it->second);
}

std::vector<const v1::Preview*> LivePreviews::OfBlueprint(const std::string& pipeline,
                                                          const std::string& blueprint) const {
  std::vector<const v1::Preview*> out;
  auto it = by_blueprint_.find({pipeline, blueprint});
  if (it == by_blueprint_.end()) return out;
  for (const std::string& uid : it->second) out.push_back(ByUid(uid));
  return out;
}

std::vector<const v1::Preview*> LivePreviews::OfBranch(const std::string& pipeline,
                                                       const std::string& source,
                                                       const std::string& branch) const {
  std::vector<const v1::Preview*> out;
  auto it = by_branch_.find({pipeline, source, branch});
  if (it == by_branch_.end()) return out;
  for (const std::string& uid : it->second) out.push_back(ByUid(uid));
  return out;
}

std::vector<std::string> LivePreviews::WorkAt(absl::Time now) const {
  std::vector<std::string> out(pending_.begin(), pending_.end());
  for (auto it = timers_.begin(); it != timers_.end() && it->first <= now; ++it) {
    if (!pending_.contains(it->second)) out.push_back(it->second);
  }
  return out;
}

std::optional<absl::Time> LivePreviews::NextTimer() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first;
}

}  // namespace slipway::preview
