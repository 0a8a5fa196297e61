// Reconcile: previews whose pipeline or blueprint is gone, and previews whose pull request or
// branch is closed or gone, are torn down (the latter within reconcile_max_share).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "preview/matching.h"
#include "preview/preview_manager.h"
#include "storage/pipeline_repository.h"
#include "storage/preview_repository.h"

namespace slipway::preview {

std::optional<bool> RecordedSubjectStates::StillOpen(const v1::Preview& preview) {
  std::optional<bool> open;
  absl::Status s = db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(
        open, storage::PreviewRepository().SubjectOpen(tx, preview.pipeline(), preview.key()));
    return absl::OkStatus();
  });
  if (!s.ok()) return std::nullopt;
  return open;
}

ReconcileReport PreviewManager::Reconcile() {
  ReconcileReport report;
  if (absl::Status s = Refresh(); !s.ok()) {
    report.refused = true;
    report.message = absl::StrCat("reconcile skipped: ", s.message());
    return report;
  }
  absl::MutexLock lock(&mu_);
  // Previews whose pipeline was deleted or whose blueprint was removed: torn down (the user
  // removed them from the spec; no Git host is asked).
  std::map<std::string, std::optional<v1::Pipeline>> pipelines;
  for (const auto& [uid, p] : live_.all()) pipelines.emplace(p.pipeline(), std::nullopt);
  absl::Status read = deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    for (auto& [name, spec] : pipelines) {
      auto got = storage::PipelineRepository().Get(tx, name);
      if (got.ok()) {
        spec = *std::move(got);
      } else if (!absl::IsNotFound(got.status())) {
        return got.status();
      }
    }
    return absl::OkStatus();
  });
  std::vector<std::string> orphans;
  if (read.ok()) {
    for (const auto& [uid, p] : live_.all()) {
      if (p.state() == v1::PREVIEW_STATE_TEARING_DOWN) continue;
      const auto& spec = pipelines[p.pipeline()];
      if (!spec.has_value() || FindBlueprint(*spec, p.blueprint()) == nullptr) {
        orphans.push_back(uid);
      }
    }
  }
  for (const auto& uid : orphans) {
    const v1::Preview* live = live_.ByUid(uid);
    if (live == nullptr) continue;
    v1::Preview p = *live;
    if (BeginTeardown(
            p, absl::StrCat("blueprint ", p.pipeline(), "/", p.blueprint(), " no longer exists"),
            "reconcile", false)
            .ok()) {
      ++report.orphaned;
    }
  }
  std::vector<std::string> candidates;
  for (const auto& [uid, p] : live_.all()) {
    if (p.state() == v1::PREVIEW_STATE_TEARING_DOWN) continue;
    ++report.live;
    // Previews created through the API for a branch have no Git events behind them unless
    // their source is watched; unknown is left alone.
    std::optional<bool> open =
        deps_.subjects == nullptr ? std::nullopt : deps_.subjects->StillOpen(p);
    if (!open.has_value()) {
      ++report.unknown;
    } else if (!*open) {
      candidates.push_back(uid);
    }
  }
  report.candidates = static_cast<int>(candidates.size());
  const int allowed = std::max(1, static_cast<int>(options_.reconcile_max_share * report.live));
  if (report.candidates > allowed) {
    report.refused = true;
    report.message = absl::StrCat("reconcile would delete ", report.candidates, " of ", report.live,
                                  " live previews (more than ",
                                  static_cast<int>(options_.reconcile_max_share * 100),
                                  "%); deleted none. Delete them explicitly if this is right.");
    return report;
  }
  for (const auto& uid : candidates) {
    const v1::Preview* live = live_.ByUid(uid);
    if (live == nullptr) continue;
    v1::Preview p = *live;
    if (BeginTeardown(p, "reconcile: its pull request or branch is closed or gone", "reconcile",
                      false)
            .ok()) {
      ++report.deleted;
    }
  }
  report.message = absl::StrCat("reconcile: ", report.live, " live, ", report.unknown, " unknown, ",
                                report.deleted, " torn down, ", report.orphaned,
                                " without a blueprint torn down");
  return report;
}

}  // namespace slipway::preview
