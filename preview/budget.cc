#include "preview/budget.h"

#include <algorithm>

#include "common/proto_time.h"
#include "preview/preview_manager.h"

namespace slipway::preview {

BudgetDecision DecideBudget(const v1::PreviewBudget& budget, int occupying) {
  const int max = budget.max_active();
  if (max <= 0 || occupying < max) return BudgetDecision::kAdmit;
  switch (budget.when_full()) {
    case v1::WHEN_FULL_QUEUE:
      return BudgetDecision::kQueue;
    case v1::WHEN_FULL_EVICT_OLDEST:
      return BudgetDecision::kEvictOldest;
    default:
      return BudgetDecision::kReject;
  }
}

std::vector<const v1::Preview*> PreviewManager::Occupying(const std::string& pipeline,
                                                          const std::string& blueprint) {
  std::vector<const v1::Preview*> out;
  for (const v1::Preview* p : live_.OfBlueprint(pipeline, blueprint)) {
    if (p->state() == v1::PREVIEW_STATE_QUEUED || p->state() == v1::PREVIEW_STATE_TEARING_DOWN) {
      continue;
    }
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const v1::Preview* a, const v1::Preview* b) {
    return CompareTime(a->create_time(), b->create_time()) < 0;
  });
  return out;
}

}  // namespace slipway::preview
