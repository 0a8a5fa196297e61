// A feed of what changed in the store, for the background work that keeps an index of it (the
// scheduler's fire times, the poller's sources): instead of reading every pipeline on every
// tick, a reader asks what changed since the sequence number it last saw.
//
// Keys are published after the transaction that changed them has committed, so a reader that
// sees a key and then reads the store sees the change. A feed keeps the last `capacity` keys; a
// reader that has fallen further behind is told to read everything again.
#ifndef SLIPWAY_STORAGE_CHANGE_FEED_H_
#define SLIPWAY_STORAGE_CHANGE_FEED_H_

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace slipway::storage {

// Thread-safe.
class ChangeFeed {
 public:
  explicit ChangeFeed(size_t capacity = 4096) : capacity_(capacity) {}

  struct Changes {
    // The sequence number to ask from next time.
    uint64_t next = 0;
    // True when keys were dropped before the reader saw them: read everything.
    bool everything = false;
    // The keys changed since, in order, possibly repeated.
    std::vector<std::string> keys;
  };

  void Publish(const std::vector<std::string>& keys);
  // What changed at or after `from` (0 on the first call, then the last answer's `next`).
  // A reader that starts from 0 is told to read everything.
  Changes Since(uint64_t from) const;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  // Sequence number of keys_.front(); sequence numbers start at 1.
  uint64_t first_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<std::string> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_CHANGE_FEED_H_
