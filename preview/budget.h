// A blueprint's budget: how many of its previews may hold resources at once, and what a new
// one does when that many do. A pure function, used by the preview manager's Upsert.
#ifndef SLIPWAY_PREVIEW_BUDGET_H_
#define SLIPWAY_PREVIEW_BUDGET_H_

#include "slipway/v1/pipeline.pb.h"

namespace slipway::preview {

enum class BudgetDecision {
  kAdmit,        // room for it
  kQueue,        // full: wait for a slot (when_full: queue)
  kEvictOldest,  // full: the oldest occupying preview is torn down (when_full: evict_oldest)
  kReject,       // full: refused (when_full: reject, the default)
};

// `occupying`: the blueprint's live previews that hold resources (not queued, not being torn
// down).
BudgetDecision DecideBudget(const v1::PreviewBudget& budget, int occupying);

}  // namespace slipway::preview

#endif  // SLIPWAY_PREVIEW_BUDGET_H_
