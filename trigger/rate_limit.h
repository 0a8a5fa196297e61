// Rates that keep what outsiders can make slipwayd write bounded: how many rejected deliveries
// each client address gets recorded, and how many rejections are logged. Time comes in as an
// argument (the intake's injected clock).
#ifndef SLIPWAY_TRIGGER_RATE_LIMIT_H_
#define SLIPWAY_TRIGGER_RATE_LIMIT_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace slipway::trigger {

// A token bucket per key: `burst` events at once, then one per `interval`. At most `max_keys`
// keys are tracked; when that many are, keys whose bucket has refilled are forgotten, and if
// none has, new keys are refused. Thread-safe.
class KeyedRateLimiter {
 public:
  KeyedRateLimiter(int burst, absl::Duration interval, size_t max_keys)
      : burst_(burst), interval_(interval), max_keys_(max_keys) {}

  // True (and one token taken) when `key` may have one more event at `now`.
  bool Allow(const std::string& key, absl::Time now);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time last;
  };
  double Refilled(const Bucket& b, absl::Time now) const;

  const int burst_;
  const absl::Duration interval_;
  const size_t max_keys_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

// At most `per_window` events per window of `window`. Thread-safe.
class WindowLimiter {
 public:
  WindowLimiter(int per_window, absl::Duration window) : per_window_(per_window), window_(window) {}

  // True when one more event fits in the window of `now`. When a new window starts,
  // `*dropped` is set to how many events the last one refused (else 0).
  bool Allow(absl::Time now, int64_t* dropped);

 private:
  const int per_window_;
  const absl::Duration window_;
  absl::Mutex mu_;
  absl::Time start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int used_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace slipway::trigger

#endif  // SLIPWAY_TRIGGER_RATE_LIMIT_H_
