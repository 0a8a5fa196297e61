// The one predicate on run states: whether a run has ended. Header-only, for every layer that
// reads runs (the store's active index, the preview lifecycle, the CLI's --wait); users link
// slipway_proto.
#ifndef SLIPWAY_COMMON_RUN_STATE_H_
#define SLIPWAY_COMMON_RUN_STATE_H_

#include "slipway/v1/release.pb.h"

namespace slipway {

// Succeeded, failed, cancelled or skipped: nothing of the run changes any more.
inline bool RunEnded(v1::RunState state) {
  switch (state) {
    case v1::RUN_STATE_SUCCEEDED:
    case v1::RUN_STATE_FAILED:
    case v1::RUN_STATE_CANCELLED:
    case v1::RUN_STATE_SKIPPED:
      return true;
    default:
      return false;
  }
}

// Queued, pending, running, awaiting approval or cancelling (not unspecified).
inline bool RunActive(v1::RunState state) {
  return state != v1::RUN_STATE_UNSPECIFIED && !RunEnded(state);
}

}  // namespace slipway

#endif  // SLIPWAY_COMMON_RUN_STATE_H_
