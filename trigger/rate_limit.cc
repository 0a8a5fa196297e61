#include "trigger/rate_limit.h"

#include <algorithm>

namespace slipway::trigger {

double KeyedRateLimiter::Refilled(const Bucket& b, absl::Time now) const {
  double gained = absl::FDivDuration(std::max(now - b.last, absl::ZeroDuration()), interval_);
  return std::min<double>(burst_, b.tokens + gained);
}

bool KeyedRateLimiter::Allow(const std::string& key, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) {
      absl::erase_if(buckets_, [&](const auto& kv) { return Refilled(kv.second, now) >= burst_; });
      if (buckets_.size() >= max_keys_) return false;
    }
    it = buckets_.emplace(key, Bucket{static_cast<double>(burst_), now}).first;
  }
  Bucket& b = it->second;
  b.tokens = Refilled(b, now);
  b.last = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

bool WindowLimiter::Allow(absl::Time now, int64_t* dropped) {
  absl::MutexLock lock(&mu_);
  *dropped = 0;
  if (now - start_ >= window_) {
    *dropped = refused_;
    start_ = now;
    used_ = 0;
    refused_ = 0;
  }
  if (used_ >= per_window_) {
    ++refused_;
    return false;
  }
  ++used_;
  return true;
}

}  // namespace slipway::trigger
