#include "release/resource_logs.h"

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/status_macros.h"
#include "storage/run_repository.h"

namespace slipway::release {

absl::Status ResourceLogReader::Stream(const v1::WatchResourceLogsRequest& request,
                                       const std::function<bool(std::string_view)>& sink) {
  constexpr int kDefaultTail = 100, kMaxTail = 10000;
  for (auto [field, value] :
       {std::pair{"pipeline", &request.pipeline()}, std::pair{"resource", &request.resource()}}) {
    if (absl::Status s = CheckDnsLabel(*value); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", s.message()));
    }
  }
  if (request.stage().empty() == request.preview().empty()) {
    return absl::InvalidArgumentError("stage, preview: set exactly one");
  }
  const std::string& name = request.stage().empty() ? request.preview() : request.stage();
  if (absl::Status s = CheckDnsLabel(name); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(request.stage().empty() ? "preview: " : "stage: ", s.message()));
  }
  if (request.tail_lines() < 0 || request.tail_lines() > kMaxTail) {
    return absl::InvalidArgumentError(
        absl::StrCat("tail_lines: ", request.tail_lines(), " is outside 0-", kMaxTail));
  }
  const std::string stage = request.stage().empty() ? "preview:" + request.preview() : name;
  std::optional<v1::ResourceState> state;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(state, storage::StageResourceRepository().Get(tx, request.pipeline(), stage,
                                                                   request.resource()));
    return absl::OkStatus();
  }));
  if (!state.has_value()) {
    return absl::NotFoundError(absl::StrCat("resource ", request.resource(), " of ",
                                            request.pipeline(), "/", stage,
                                            " has never been deployed"));
  }
  auto d = drivers_.find(state->spec().driver());
  if (d == drivers_.end() || d->second == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("driver \"", state->spec().driver(), "\" is not available"));
  }
  deploy::DeployRequest req;
  req.key = absl::StrCat(request.pipeline(), "/", stage, "/", request.resource());
  req.spec = state->spec();
  req.artifact = state->artifact();
  return d->second->Logs(req, request.follow(),
                         request.tail_lines() == 0 ? kDefaultTail : request.tail_lines(), sink);
}

}  // namespace slipway::release
