#include "server/container_sweep.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/pipeline_repository.h"
#include "storage/preview_repository.h"
#include "storage/run_repository.h"

namespace slipway::server {

deploy::SweepReport SweepContainers(storage::Database& db, deploy::ContainerDriver& driver) {
  return driver.Sweep([&db]() -> absl::StatusOr<deploy::ContainerDriver::Ownership> {
    deploy::ContainerDriver::Ownership own;
    RETURN_IF_ERROR(db.Read([&](storage::Transaction& tx) -> absl::Status {
      std::vector<std::pair<std::string, std::string>> owned;  // (pipeline, stage)
      ASSIGN_OR_RETURN(std::vector<v1::Pipeline> pipelines,
                       storage::PipelineRepository().ListAll(tx));
      for (const auto& p : pipelines) {
        for (const auto& st : p.stages()) owned.emplace_back(p.name(), st.name());
      }
      ASSIGN_OR_RETURN(std::vector<v1::Preview> previews,
                       storage::PreviewRepository().List(tx, "", false));
      for (const auto& p : previews) {
        const std::string stage = "preview:" + p.name();
        owned.emplace_back(p.pipeline(), stage);
        if (p.state() == v1::PREVIEW_STATE_TEARING_DOWN) {
          own.busy_scopes.insert(absl::StrCat(p.pipeline(), "/", stage));
        }
      }
      for (const auto& [pipeline, stage] : owned) {
        own.scopes.insert(absl::StrCat(pipeline, "/", stage));
        ASSIGN_OR_RETURN(std::vector<v1::ResourceState> recorded,
                         storage::StageResourceRepository().List(tx, pipeline, stage));
        for (const auto& r : recorded) {
          own.keys.insert(absl::StrCat(pipeline, "/", stage, "/", r.name()));
        }
      }
      ASSIGN_OR_RETURN(std::vector<v1::Run> active, storage::RunRepository().ListActive(tx));
      for (const auto& run : active) {
        own.busy_scopes.insert(absl::StrCat(run.pipeline(), "/", run.stage()));
      }
      return absl::OkStatus();
    }));
    return own;
  });
}

}  // namespace slipway::server
