#include "release/run_manager.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/run_state.h"
#include "common/status_macros.h"
#include "storage/pipeline_repository.h"
#include "storage/request_log.h"
#include "storage/run_repository.h"

namespace slipway::release {
namespace {

absl::Status CheckName(const char* field, const std::string& value) {
  if (absl::Status s = CheckDnsLabel(value); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> PageSize(int requested) {
  if (requested == 0) return 50;
  if (requested < 0 || requested > 100) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: ", requested, " is outside 1-100"));
  }
  return requested;
}

absl::StatusOr<int64_t> PageToken(const std::string& token) {
  if (token.empty()) return 0;
  int64_t v = 0;
  if (!absl::SimpleAtoi(token, &v) || v <= 0) {
    return absl::InvalidArgumentError("page_token: not a token from this API; start without it");
  }
  return v;
}

}  // namespace

absl::StatusOr<v1::Run> RunManager::StartRun(const v1::StartRunRequest& request,
                                             const std::string& caller) {
  return Start(request, caller, "StartRun",
               request.request_id().empty() ? "" : storage::Fingerprint(request));
}

absl::StatusOr<v1::Run> RunManager::Start(const v1::StartRunRequest& request,
                                          const std::string& caller, const std::string& method,
                                          const std::string& fingerprint) {
  RETURN_IF_ERROR(CheckName("pipeline", request.pipeline()));
  RETURN_IF_ERROR(CheckName("stage", request.stage()));
  if (request.request_id().size() > 128) {
    return absl::InvalidArgumentError("request_id: at most 128 characters");
  }
  for (const auto& [k, v] : request.args()) {
    if (k.empty() || k.size() > 64) {
      return absl::InvalidArgumentError(absl::StrCat("args: bad name \"", k, "\""));
    }
    if (v.size() > 4096) return absl::InvalidArgumentError(absl::StrCat("args.", k, ": too long"));
  }
  StartRequest start;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(start.pipeline, storage::PipelineRepository().Get(tx, request.pipeline()));
    return absl::OkStatus();
  }));
  start.stage = request.stage();
  start.args.insert(request.args().begin(), request.args().end());
  start.trigger = request.trigger();
  if (start.trigger.event().empty()) start.trigger.set_event("api");
  start.trigger.set_actor(caller);
  start.override_hold = request.override_hold();
  start.request_method = method;
  start.request_fingerprint = fingerprint;
  return executor_->Start(start, request.request_id());
}

absl::StatusOr<v1::Run> RunManager::GetRun(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("id: required");
  v1::Run run;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(run, storage::RunRepository().Get(tx, id));
    return absl::OkStatus();
  }));
  run.clear_stage_spec();
  return run;
}

absl::StatusOr<v1::ListRunsResponse> RunManager::ListRuns(const v1::ListRunsRequest& request) {
  ASSIGN_OR_RETURN(int size, PageSize(request.page_size()));
  ASSIGN_OR_RETURN(int64_t before, PageToken(request.page_token()));
  storage::RunFilter filter{request.pipeline(), request.stage(), {}, before, size + 1};
  for (int s : request.states()) filter.states.push_back(static_cast<v1::RunState>(s));
  v1::ListRunsResponse out;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    storage::RunRepository repo;
    ASSIGN_OR_RETURN(auto runs, repo.List(tx, filter));
    for (int i = 0; i < static_cast<int>(runs.size()) && i < size; ++i) {
      runs[i].clear_stage_spec();
      *out.add_runs() = std::move(runs[i]);
    }
    if (static_cast<int>(runs.size()) > size) {
      ASSIGN_OR_RETURN(int64_t seq, repo.SequenceOf(tx, out.runs(size - 1).id()));
      out.set_next_page_token(absl::StrCat(seq));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Run> RunManager::CancelRun(const v1::CancelRunRequest& request,
                                              const std::string& caller) {
  if (request.id().empty()) return absl::InvalidArgumentError("id: required");
  ASSIGN_OR_RETURN(v1::Run run, executor_->Cancel(request.id(), caller, request.reason()));
  run.clear_stage_spec();
  return run;
}

absl::StatusOr<v1::Run> RunManager::ApproveRun(const v1::ApproveRunRequest& request,
                                               const std::string& caller, bool reject) {
  if (request.id().empty()) return absl::InvalidArgumentError("id: required");
  if (request.node().empty()) return absl::InvalidArgumentError("node: required");
  RETURN_IF_ERROR(GetRun(request.id()).status());
  ASSIGN_OR_RETURN(v1::Run run, executor_->Approve(request.id(), request.node(), caller,
                                                   request.comment(), reject));
  run.clear_stage_spec();
  return run;
}

absl::StatusOr<v1::Run> RunManager::RetryRun(const v1::RetryRunRequest& request,
                                             const std::string& caller) {
  ASSIGN_OR_RETURN(v1::Run old, GetRun(request.id()));
  if (RunActive(old.state())) {
    return absl::FailedPreconditionError(
        absl::StrCat("run ", old.id(), " has not ended; cancel it first or wait"));
  }
  v1::StartRunRequest start;
  start.set_pipeline(old.pipeline());
  start.set_stage(old.stage());
  *start.mutable_args() = old.args();
  for (const auto& [k, v] : old.secret_args()) (*start.mutable_args())[k] = v;
  *start.mutable_trigger() = old.trigger();
  start.mutable_trigger()->set_event("retry");
  start.mutable_trigger()->set_reason(absl::StrCat("retry of ", old.id()));
  start.set_request_id(request.request_id());
  return Start(start, caller, "RetryRun",
               request.request_id().empty() ? "" : storage::Fingerprint(request));
}

absl::StatusOr<v1::ListReleasesResponse> RunManager::ListReleases(
    const v1::ListReleasesRequest& request) {
  RETURN_IF_ERROR(CheckName("pipeline", request.pipeline()));
  RETURN_IF_ERROR(CheckName("stage", request.stage()));
  ASSIGN_OR_RETURN(int size, PageSize(request.page_size()));
  ASSIGN_OR_RETURN(int64_t before, PageToken(request.page_token()));
  v1::ListReleasesResponse out;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto releases, storage::ReleaseRepository().List(
                                        tx, request.pipeline(), request.stage(), before, size + 1));
    for (int i = 0; i < static_cast<int>(releases.size()) && i < size; ++i) {
      *out.add_releases() = std::move(releases[i]);
    }
    if (static_cast<int>(releases.size()) > size) {
      out.set_next_page_token(absl::StrCat(out.releases(size - 1).number()));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Release> RunManager::GetRelease(const v1::GetReleaseRequest& request) {
  RETURN_IF_ERROR(CheckName("pipeline", request.pipeline()));
  RETURN_IF_ERROR(CheckName("stage", request.stage()));
  if (request.number() <= 0) return absl::InvalidArgumentError("number: must be 1 or more");
  v1::Release release;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(release, storage::ReleaseRepository().Get(tx, request.pipeline(),
                                                               request.stage(), request.number()));
    return absl::OkStatus();
  }));
  return release;
}

absl::StatusOr<std::vector<v1::RunEvent>> RunManager::Events(const std::string& run_id,
                                                             int64_t after, int limit) {
  std::vector<v1::RunEvent> out;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    storage::RunRepository repo;
    RETURN_IF_ERROR(repo.SequenceOf(tx, run_id).status());
    ASSIGN_OR_RETURN(out, repo.EventsAfter(tx, run_id, after, limit));
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace slipway::release
