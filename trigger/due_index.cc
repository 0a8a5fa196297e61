#include "trigger/due_index.h"

#include "storage/pipeline_repository.h"

namespace slipway::trigger {

absl::StatusOr<std::vector<v1::Pipeline>> ChangedPipelines(
    storage::Transaction& tx, const storage::ChangeFeed::Changes& changes) {
  storage::PipelineRepository repo;
  if (changes.everything) return repo.ListAll(tx);
  std::vector<v1::Pipeline> out;
  std::set<std::string> names(changes.keys.begin(), changes.keys.end());
  for (const std::string& name : names) {
    auto p = repo.Get(tx, name);
    if (p.ok()) {
      out.push_back(*std::move(p));
    } else if (!absl::IsNotFound(p.status())) {
      return p.status();
    }
  }
  return out;
}

}  // namespace slipway::trigger
