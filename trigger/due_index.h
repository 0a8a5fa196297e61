// What the scheduler and the poller share: an index of keys (a schedule trigger, a polled
// source) each due at a time, grouped by the pipeline that declares them so that a change of
// that pipeline replaces its keys, and the read of the pipelines a change feed names.
#ifndef SLIPWAY_TRIGGER_DUE_INDEX_H_
#define SLIPWAY_TRIGGER_DUE_INDEX_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "slipway/v1/pipeline.pb.h"
#include "storage/change_feed.h"
#include "storage/database.h"

namespace slipway::trigger {

// The pipelines to index again for `changes`: every pipeline when the feed says everything,
// else those it names that still exist (a deleted one is simply absent).
absl::StatusOr<std::vector<v1::Pipeline>> ChangedPipelines(
    storage::Transaction& tx, const storage::ChangeFeed::Changes& changes);

// `Entry` has `std::string pipeline` and `int64_t next_ms` (Unix ms; kNever: not due). Not
// thread-safe.
template <typename Entry>
class DueIndex {
 public:
  static constexpr int64_t kNever = INT64_MAX;

  // Replaces the keys of the pipelines `changes` names (all keys, if everything changed) with
  // `found`.
  void Replace(const storage::ChangeFeed::Changes& changes, std::map<std::string, Entry> found) {
    if (changes.everything) {
      entries_.clear();
      keys_of_.clear();
      due_.clear();
    } else {
      for (const std::string& pipeline : changes.keys) RemovePipeline(pipeline);
    }
    for (auto& [key, entry] : found) {
      keys_of_[entry.pipeline].push_back(key);
      if (entry.next_ms != kNever) due_.insert({entry.next_ms, key});
      entries_[key] = std::move(entry);
    }
  }

  Entry* Find(const std::string& key) {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }

  void SetNext(const std::string& key, int64_t next_ms) {
    Entry* e = Find(key);
    if (e == nullptr) return;
    due_.erase({e->next_ms, key});
    e->next_ms = next_ms;
    if (next_ms != kNever) due_.insert({next_ms, key});
  }

  void Erase(const std::string& key) {
    Entry* e = Find(key);
    if (e == nullptr) return;
    due_.erase({e->next_ms, key});
    entries_.erase(key);  // its pipeline's key list keeps the name; RemovePipeline skips it
  }

  // The keys due at `now_ms`, earliest first, taken before any is handled: one handled now is
  // not due again in the same pass, whatever its next time.
  std::vector<std::string> DueAt(int64_t now_ms) const {
    std::vector<std::string> out;
    for (auto it = due_.begin(); it != due_.end() && it->first <= now_ms; ++it) {
      out.push_back(it->second);
    }
    return out;
  }

  // The earliest time a key is due, if any.
  std::optional<int64_t> Earliest() const {
    if (due_.empty()) return std::nullopt;
    return due_.begin()->first;
  }

  size_t size() const { return entries_.size(); }

 private:
  void RemovePipeline(const std::string& pipeline) {
    auto keys = keys_of_.find(pipeline);
    if (keys == keys_of_.end()) return;
    for (const std::string& key : keys->second) Erase(key);
    keys_of_.erase(keys);
  }

  std::map<std::string, Entry> entries_;
  std::map<std::string, std::vector<std::string>> keys_of_;
  std::set<std::pair<int64_t, std::string>> due_;
};

}  // namespace slipway::trigger

#endif  // SLIPWAY_TRIGGER_DUE_INDEX_H_
