#include "storage/change_feed.h"

namespace slipway::storage {

void ChangeFeed::Publish(const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  absl::MutexLock lock(&mu_);
  for (const std::string& k : keys) keys_.push_back(k);
  while (keys_.size() > capacity_) {
    keys_.pop_front();
    ++first_;
  }
}

ChangeFeed::Changes ChangeFeed::Since(uint64_t from) const {
  absl::MutexLock lock(&mu_);
  Changes out;
  out.next = first_ + keys_.size();
  if (from == 0 || from < first_) {
    out.everything = true;
    return out;
  }
  for (uint64_t seq = from; seq < out.next; ++seq) out.keys.push_back(keys_[seq - first_]);
  return out;
}

}  // namespace slipway::storage
