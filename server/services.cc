#include "server/services.h"

#include <spdlog/spdlog.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/error_reason.h"
#include "common/proto_time.h"
#include "common/run_state.h"
#include "common/status_macros.h"
#include "server/grpc_status.h"
#include "storage/run_repository.h"

namespace slipway::server {
namespace {

// Moves the value of `result` into `*response`, or returns its error.
template <typename T>
absl::Status Respond(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return result.status();
  *response = *std::move(result);
  return absl::OkStatus();
}

}  // namespace

#define SLIPWAY_METHOD(service, name) "/slipway.v1." #service "/" #name

grpc::Status PipelineServiceImpl::CreatePipeline(grpc::ServerContext* context,
                                                 const v1::CreatePipelineRequest* request,
                                                 v1::Pipeline* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PipelineService, CreatePipeline), v1::SCOPE_ADMIN,
               request, [&](const Principal& p) {
                 return Respond(pipelines_->Create(*request, AuthorOf(deps_, p, context)),
                                response);
               });
}

grpc::ServerUnaryReactor* PipelineServiceImpl::GetPipeline(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* response) {
  grpc::Status status =
      Serve(deps_, context, SLIPWAY_METHOD(PipelineService, GetPipeline), v1::SCOPE_READ, nullptr,
            [&](const Principal&) -> absl::Status {
              std::vector<grpc::Slice> slices;
              std::string bytes;
              if (request->Dump(&slices).ok()) {
                for (const auto& slice : slices) {
                  bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
                }
              }
              v1::GetPipelineRequest parsed;
              if (!parsed.ParseFromString(bytes)) {
                return absl::InvalidArgumentError("request: not a slipway.v1.GetPipelineRequest");
              }
              auto serialized = pipelines_->GetSerialized(parsed.name());
              if (!serialized.ok()) return serialized.status();
              grpc::Slice slice((*serialized)->data(), (*serialized)->size());
              *response = grpc::ByteBuffer(&slice, 1);
              return absl::OkStatus();
            });
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::Status PipelineServiceImpl::ListPipelines(grpc::ServerContext* context,
                                                const v1::ListPipelinesRequest* request,
                                                v1::ListPipelinesResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PipelineService, ListPipelines), v1::SCOPE_READ,
               request,
               [&](const Principal&) { return Respond(pipelines_->List(*request), response); });
}

grpc::Status PipelineServiceImpl::UpdatePipeline(grpc::ServerContext* context,
                                                 const v1::UpdatePipelineRequest* request,
                                                 v1::Pipeline* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PipelineService, UpdatePipeline), v1::SCOPE_ADMIN,
               request, [&](const Principal& p) {
                 return Respond(pipelines_->Update(*request, AuthorOf(deps_, p, context)),
                                response);
               });
}

grpc::Status PipelineServiceImpl::DeletePipeline(grpc::ServerContext* context,
                                                 const v1::DeletePipelineRequest* request,
                                                 v1::DeletePipelineResponse*) {
  return Serve(deps_, context, SLIPWAY_METHOD(PipelineService, DeletePipeline), v1::SCOPE_ADMIN,
               request, [&](const Principal& p) {
                 return pipelines_->Delete(*request, AuthorOf(deps_, p, context));
               });
}

grpc::Status PipelineServiceImpl::ApplyPipeline(grpc::ServerContext* context,
                                                const v1::ApplyPipelineRequest* request,
                                                v1::ApplyPipelineResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PipelineService, ApplyPipeline), v1::SCOPE_ADMIN,
               request, [&](const Principal& p) {
                 return Respond(pipelines_->Apply(*request, AuthorOf(deps_, p, context)), response);
               });
}

grpc::Status PipelineServiceImpl::ValidatePipeline(grpc::ServerContext* context,
                                                   const v1::ValidatePipelineRequest* request,
                                                   v1::ValidatePipelineResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PipelineService, ValidatePipeline), v1::SCOPE_READ,
               request, [&](const Principal&) -> absl::Status {
                 *response = pipelines_->Validate(*request);
                 return absl::OkStatus();
               });
}

grpc::Status PipelineServiceImpl::ListPipelineRevisions(
    grpc::ServerContext* context, const v1::ListPipelineRevisionsRequest* request,
    v1::ListPipelineRevisionsResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PipelineService, ListPipelineRevisions),
               v1::SCOPE_READ, request, [&](const Principal&) {
                 return Respond(pipelines_->ListRevisions(*request), response);
               });
}

grpc::Status PipelineServiceImpl::GetPipelineRevision(grpc::ServerContext* context,
                                                      const v1::GetPipelineRevisionRequest* request,
                                                      v1::PipelineRevision* response) {
  return Serve(
      deps_, context, SLIPWAY_METHOD(PipelineService, GetPipelineRevision), v1::SCOPE_READ, request,
      [&](const Principal&) { return Respond(pipelines_->GetRevision(*request), response); });
}

grpc::Status PipelineServiceImpl::DiffPipelineRevisions(
    grpc::ServerContext* context, const v1::DiffPipelineRevisionsRequest* request,
    v1::DiffPipelineRevisionsResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PipelineService, DiffPipelineRevisions),
               v1::SCOPE_READ, request, [&](const Principal&) {
                 return Respond(pipelines_->DiffRevisions(*request), response);
               });
}

grpc::Status PipelineServiceImpl::EnableGitOps(grpc::ServerContext* context,
                                               const v1::EnableGitOpsRequest* request,
                                               v1::GitOpsBinding* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PipelineService, EnableGitOps), v1::SCOPE_ADMIN,
               request, [&](const Principal& p) -> absl::Status {
                 if (gitops_ == nullptr) return absl::UnimplementedError("GitOps is not set up");
                 return Respond(gitops_->Enable(*request, AuthorOf(deps_, p, context)), response);
               });
}

grpc::Status PipelineServiceImpl::DisableGitOps(grpc::ServerContext* context,
                                                const v1::DisableGitOpsRequest* request,
                                                v1::DisableGitOpsResponse*) {
  return Serve(deps_, context, SLIPWAY_METHOD(PipelineService, DisableGitOps), v1::SCOPE_ADMIN,
               request, [&](const Principal&) -> absl::Status {
                 if (gitops_ == nullptr) return absl::UnimplementedError("GitOps is not set up");
                 return gitops_->Disable(*request);
               });
}

grpc::Status PipelineServiceImpl::GetGitOps(grpc::ServerContext* context,
                                            const v1::GetGitOpsRequest* request,
                                            v1::GitOpsBinding* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PipelineService, GetGitOps), v1::SCOPE_READ, request,
               [&](const Principal&) -> absl::Status {
                 if (gitops_ == nullptr) return absl::UnimplementedError("GitOps is not set up");
                 return Respond(gitops_->Get(request->pipeline()), response);
               });
}

grpc::Status AuditServiceImpl::ListAuditRecords(grpc::ServerContext* context,
                                                const v1::ListAuditRecordsRequest* request,
                                                v1::ListAuditRecordsResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(AuditService, ListAuditRecords), v1::SCOPE_ADMIN,
               request, [&](const Principal&) -> absl::Status {
                 if (deps_.audit == nullptr) {
                   return absl::FailedPreconditionError("this server keeps no audit trail");
                 }
                 return Respond(deps_.audit->List(*request), response);
               });
}

grpc::Status AdminServiceImpl::CreateToken(grpc::ServerContext* context,
                                           const v1::CreateTokenRequest* request,
                                           v1::CreateTokenResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(AdminService, CreateToken), v1::SCOPE_ADMIN, request,
               [&](const Principal& caller) -> absl::Status {
                 auto r = deps_.tokens->Create(request->scope(), request->description(),
                                               "token:" + caller.token_id);
                 if (!r.ok()) return r.status();
                 *response->mutable_token() = r->token;
                 response->set_secret(r->secret);
                 spdlog::info("token {} ({}) created by token {}", r->token.id(),
                              ScopeName(r->token.scope()), caller.token_id);
                 return absl::OkStatus();
               });
}

grpc::Status AdminServiceImpl::ListTokens(grpc::ServerContext* context,
                                          const v1::ListTokensRequest* request,
                                          v1::ListTokensResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(AdminService, ListTokens), v1::SCOPE_ADMIN, request,
               [&](const Principal&) -> absl::Status {
                 auto r = deps_.tokens->List(request->include_revoked());
                 if (!r.ok()) return r.status();
                 for (auto& t : *r) *response->add_tokens() = std::move(t);
                 return absl::OkStatus();
               });
}

grpc::Status AdminServiceImpl::RevokeToken(grpc::ServerContext* context,
                                           const v1::RevokeTokenRequest* request,
                                           v1::Token* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(AdminService, RevokeToken), v1::SCOPE_ADMIN, request,
               [&](const Principal& caller) -> absl::Status {
                 auto r = deps_.tokens->Revoke(request->id());
                 if (!r.ok()) return r.status();
                 *response = *std::move(r);
                 spdlog::info("token {} revoked by token {}", response->id(), caller.token_id);
                 return absl::OkStatus();
               });
}

grpc::Status AdminServiceImpl::GetServerInfo(grpc::ServerContext* context,
                                             const v1::GetServerInfoRequest* request,
                                             v1::ServerInfo* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(AdminService, GetServerInfo), v1::SCOPE_READ, request,
               [&](const Principal& p) -> absl::Status {
                 response->set_version(info_.version);
                 *response->mutable_start_time() = info_.start_time;
                 response->set_storage(info_.storage);
                 response->set_replica(info_.replica);
                 response->set_caller_token_id(p.token_id);
                 response->set_caller_scope(p.scope);
                 return absl::OkStatus();
               });
}

grpc::Status AdminServiceImpl::ListReplicas(grpc::ServerContext* context,
                                            const v1::ListReplicasRequest* request,
                                            v1::ListReplicasResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(AdminService, ListReplicas), v1::SCOPE_READ, request,
               [&](const Principal&) -> absl::Status {
                 response->set_answered_by(info_.replica);
                 if (!info_.replicas) return absl::OkStatus();  // one slipwayd, no replicas
                 auto list = info_.replicas();
                 if (!list.ok()) return list.status();
                 for (v1::Replica& r : *list) *response->add_replicas() = std::move(r);
                 return absl::OkStatus();
               });
}

grpc::Status ReleaseServiceImpl::StartRun(grpc::ServerContext* context,
                                          const v1::StartRunRequest* request, v1::Run* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, StartRun), v1::SCOPE_DEPLOY, request,
               [&](const Principal& p) {
                 return Respond(runs_->StartRun(*request, "token:" + p.token_id), response);
               });
}

grpc::Status ReleaseServiceImpl::GetRun(grpc::ServerContext* context,
                                        const v1::GetRunRequest* request, v1::Run* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, GetRun), v1::SCOPE_READ, request,
               [&](const Principal&) { return Respond(runs_->GetRun(request->id()), response); });
}

grpc::Status ReleaseServiceImpl::ListRuns(grpc::ServerContext* context,
                                          const v1::ListRunsRequest* request,
                                          v1::ListRunsResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, ListRuns), v1::SCOPE_READ, request,
               [&](const Principal&) { return Respond(runs_->ListRuns(*request), response); });
}

grpc::Status ReleaseServiceImpl::WatchRun(grpc::ServerContext* context,
                                          const v1::WatchRunRequest* request,
                                          grpc::ServerWriter<v1::RunEvent>* writer) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, WatchRun), v1::SCOPE_READ, request,
               [&](const Principal&) -> absl::Status {
                 int64_t after = request->after_sequence();
                 while (!context->IsCancelled()) {
                   auto events = runs_->Events(request->id(), after, 100);
                   if (!events.ok()) return events.status();
                   bool ended = false;
                   for (const auto& e : *events) {
                     if (!writer->Write(e)) return absl::CancelledError("client went away");
                     after = e.sequence();
                     ended = RunEnded(e.state());
                   }
                   if (ended && events->size() < 100) {
                     // Nothing follows the event that ended the run.
                     auto more = runs_->Events(request->id(), after, 1);
                     if (more.ok() && more->empty()) return absl::OkStatus();
                   }
                   if (events->empty()) {
                     auto run = runs_->GetRun(request->id());
                     if (run.ok() && RunEnded(run->state()) && run->last_event() <= after) {
                       return absl::OkStatus();
                     }
                     runs_->WaitForEvents(request->id(), after, absl::Seconds(1));
                   }
                 }
                 return absl::CancelledError("client went away");
               });
}

grpc::Status ReleaseServiceImpl::WatchResourceLogs(
    grpc::ServerContext* context, const v1::WatchResourceLogsRequest* request,
    grpc::ServerWriter<v1::ResourceLogChunk>* writer) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, WatchResourceLogs), v1::SCOPE_READ,
               request, [&](const Principal&) -> absl::Status {
                 constexpr size_t kMaxChunk = 64 << 10;
                 bool gone = false;
                 absl::Status s = logs_->Stream(*request, [&](std::string_view piece) {
                   if (context->IsCancelled()) {
                     gone = true;
                     return false;
                   }
                   while (!piece.empty()) {
                     v1::ResourceLogChunk chunk;
                     chunk.set_data(std::string(piece.substr(0, kMaxChunk)));
                     piece.remove_prefix(std::min(piece.size(), kMaxChunk));
                     if (!writer->Write(chunk)) {
                       gone = true;
                       return false;
                     }
                   }
                   return true;
                 });
                 if (gone) return absl::CancelledError("client went away");
                 return s;
               });
}

grpc::Status ReleaseServiceImpl::CancelRun(grpc::ServerContext* context,
                                           const v1::CancelRunRequest* request, v1::Run* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, CancelRun), v1::SCOPE_DEPLOY, request,
               [&](const Principal& p) {
                 return Respond(runs_->CancelRun(*request, "token:" + p.token_id), response);
               });
}

grpc::Status ReleaseServiceImpl::ApproveRun(grpc::ServerContext* context,
                                            const v1::ApproveRunRequest* request,
                                            v1::Run* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, ApproveRun), v1::SCOPE_DEPLOY,
               request, [&](const Principal& p) {
                 return Respond(runs_->ApproveRun(*request, "token:" + p.token_id, false),
                                response);
               });
}

grpc::Status ReleaseServiceImpl::RejectRun(grpc::ServerContext* context,
                                           const v1::ApproveRunRequest* request,
                                           v1::Run* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, RejectRun), v1::SCOPE_DEPLOY, request,
               [&](const Principal& p) {
                 return Respond(runs_->ApproveRun(*request, "token:" + p.token_id, true), response);
               });
}

grpc::Status ReleaseServiceImpl::RetryRun(grpc::ServerContext* context,
                                          const v1::RetryRunRequest* request, v1::Run* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, RetryRun), v1::SCOPE_DEPLOY, request,
               [&](const Principal& p) {
                 return Respond(runs_->RetryRun(*request, "token:" + p.token_id), response);
               });
}

grpc::Status ReleaseServiceImpl::ListReleases(grpc::ServerContext* context,
                                              const v1::ListReleasesRequest* request,
                                              v1::ListReleasesResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, ListReleases), v1::SCOPE_READ,
               request,
               [&](const Principal&) { return Respond(runs_->ListReleases(*request), response); });
}

grpc::Status ReleaseServiceImpl::GetRelease(grpc::ServerContext* context,
                                            const v1::GetReleaseRequest* request,
                                            v1::Release* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, GetRelease), v1::SCOPE_READ, request,
               [&](const Principal&) { return Respond(runs_->GetRelease(*request), response); });
}

grpc::Status ReleaseServiceImpl::RollbackStage(grpc::ServerContext* context,
                                               const v1::RollbackStageRequest* request,
                                               v1::RollbackStageResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, RollbackStage), v1::SCOPE_DEPLOY,
               request, [&](const Principal& p) {
                 return Respond(stages_->Rollback(*request, "token:" + p.token_id), response);
               });
}

grpc::Status ReleaseServiceImpl::DiffReleases(grpc::ServerContext* context,
                                              const v1::DiffReleasesRequest* request,
                                              v1::ReleaseDiff* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, DiffReleases), v1::SCOPE_READ,
               request,
               [&](const Principal&) { return Respond(stages_->Diff(*request), response); });
}

grpc::Status ReleaseServiceImpl::HoldStage(grpc::ServerContext* context,
                                           const v1::HoldStageRequest* request,
                                           v1::StageHold* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, HoldStage), v1::SCOPE_DEPLOY, request,
               [&](const Principal& p) -> absl::Status {
                 RETURN_IF_ERROR(Respond(stages_->Hold(*request, "token:" + p.token_id), response));
                 deps_.metrics->ObserveHoldPlaced(response->pipeline(), response->stage(),
                                                  "manual");
                 return absl::OkStatus();
               });
}

grpc::Status ReleaseServiceImpl::ReleaseHold(grpc::ServerContext* context,
                                             const v1::ReleaseHoldRequest* request,
                                             v1::ReleaseHoldResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, ReleaseHold), v1::SCOPE_DEPLOY,
               request, [&](const Principal&) -> absl::Status {
                 RETURN_IF_ERROR(Respond(stages_->ReleaseHold(*request), response));
                 if (response->has_released()) {
                   deps_.metrics->ObserveHoldLifted(response->released().pipeline(),
                                                    response->released().stage());
                 }
                 return absl::OkStatus();
               });
}

grpc::Status ReleaseServiceImpl::GetStage(grpc::ServerContext* context,
                                          const v1::GetStageRequest* request,
                                          v1::StageStatus* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(ReleaseService, GetStage), v1::SCOPE_READ, request,
               [&](const Principal&) { return Respond(stages_->Status(*request), response); });
}

grpc::Status DeliveryServiceImpl::ListDeliveries(grpc::ServerContext* context,
                                                 const v1::ListDeliveriesRequest* request,
                                                 v1::ListDeliveriesResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(DeliveryService, ListDeliveries), v1::SCOPE_READ,
               request, [&](const Principal&) -> absl::Status {
                 int size = request->page_size() == 0 ? 50 : request->page_size();
                 if (size < 0 || size > 100) {
                   return absl::InvalidArgumentError("page_size: outside 1-100");
                 }
                 auto list = intake_->List(request->pipeline(), size);
                 if (!list.ok()) return list.status();
                 for (auto& d : *list) *response->add_deliveries() = std::move(d);
                 return absl::OkStatus();
               });
}

grpc::Status DeliveryServiceImpl::GetDelivery(grpc::ServerContext* context,
                                              const v1::GetDeliveryRequest* request,
                                              v1::Delivery* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(DeliveryService, GetDelivery), v1::SCOPE_READ,
               request,
               [&](const Principal&) { return Respond(intake_->Get(request->id()), response); });
}

grpc::Status DeliveryServiceImpl::Redeliver(grpc::ServerContext* context,
                                            const v1::RedeliverRequest* request,
                                            v1::Delivery* response) {
  return Serve(
      deps_, context, SLIPWAY_METHOD(DeliveryService, Redeliver), v1::SCOPE_DEPLOY, request,
      [&](const Principal&) { return Respond(intake_->Redeliver(request->id()), response); });
}

grpc::Status PreviewServiceImpl::ListPreviews(grpc::ServerContext* context,
                                              const v1::ListPreviewsRequest* request,
                                              v1::ListPreviewsResponse* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PreviewService, ListPreviews), v1::SCOPE_READ,
               request, [&](const Principal&) -> absl::Status {
                 auto list = previews_->List(request->pipeline(), request->include_deleted());
                 if (!list.ok()) return list.status();
                 for (auto& p : *list) *response->add_previews() = std::move(p);
                 return absl::OkStatus();
               });
}

grpc::Status PreviewServiceImpl::GetPreview(grpc::ServerContext* context,
                                            const v1::GetPreviewRequest* request,
                                            v1::Preview* response) {
  return Serve(
      deps_, context, SLIPWAY_METHOD(PreviewService, GetPreview), v1::SCOPE_READ, request,
      [&](const Principal&) { return Respond(previews_->Get(request->name()), response); });
}

grpc::Status PreviewServiceImpl::CreatePreview(grpc::ServerContext* context,
                                               const v1::CreatePreviewRequest* request,
                                               v1::Preview* response) {
  return Serve(
      deps_, context, SLIPWAY_METHOD(PreviewService, CreatePreview), v1::SCOPE_DEPLOY, request,
      [&](const Principal& caller) -> absl::Status {
        if (request->pipeline().empty()) {
          return absl::InvalidArgumentError("pipeline: must not be empty");
        }
        auto pipeline = pipelines_->Get(request->pipeline());
        if (!pipeline.ok()) return pipeline.status();
        std::map<std::string, std::string> args(request->args().begin(), request->args().end());
        return Respond(previews_->Create(*pipeline, request->blueprint(), request->branch(),
                                         request->sha(), args, "token:" + caller.token_id),
                       response);
      });
}

grpc::Status PreviewServiceImpl::DeletePreview(grpc::ServerContext* context,
                                               const v1::DeletePreviewRequest* request,
                                               v1::Preview* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PreviewService, DeletePreview), v1::SCOPE_DEPLOY,
               request, [&](const Principal& caller) {
                 return Respond(previews_->Delete(request->name(), request->skip_teardown(),
                                                  "token:" + caller.token_id),
                                response);
               });
}

grpc::Status PreviewServiceImpl::ExtendPreview(grpc::ServerContext* context,
                                               const v1::ExtendPreviewRequest* request,
                                               v1::Preview* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PreviewService, ExtendPreview), v1::SCOPE_DEPLOY,
               request, [&](const Principal&) -> absl::Status {
                 if (absl::Status s = CheckDuration(request->duration()); !s.ok()) {
                   return absl::InvalidArgumentError(absl::StrCat("duration: ", s.message()));
                 }
                 return Respond(
                     previews_->Extend(request->name(), DurationFromProto(request->duration())),
                     response);
               });
}

grpc::Status PreviewServiceImpl::PausePreview(grpc::ServerContext* context,
                                              const v1::PausePreviewRequest* request,
                                              v1::Preview* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PreviewService, PausePreview), v1::SCOPE_DEPLOY,
               request, [&](const Principal& caller) {
                 return Respond(previews_->Pause(request->name(), "token:" + caller.token_id),
                                response);
               });
}

grpc::Status PreviewServiceImpl::ResumePreview(grpc::ServerContext* context,
                                               const v1::ResumePreviewRequest* request,
                                               v1::Preview* response) {
  return Serve(deps_, context, SLIPWAY_METHOD(PreviewService, ResumePreview), v1::SCOPE_DEPLOY,
               request, [&](const Principal& caller) {
                 return Respond(previews_->Resume(request->name(), "token:" + caller.token_id),
                                response);
               });
}

#undef SLIPWAY_METHOD

namespace {
bool KnownService(const std::string& name) {
  return name.empty() || name == "slipway.v1.PipelineService" ||
         name == "slipway.v1.AdminService" || name == "slipway.v1.ReleaseService" ||
         name == "slipway.v1.DeliveryService" || name == "slipway.v1.PreviewService" ||
         name == "grpc.health.v1.Health";
}
}  // namespace

grpc::Status HealthServiceImpl::Check(grpc::ServerContext*,
                                      const grpc::health::v1::HealthCheckRequest* request,
                                      grpc::health::v1::HealthCheckResponse* response) {
  if (!KnownService(request->service())) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service " + request->service());
  }
  absl::MutexLock lock(&mu_);
  response->set_status(shutting_down_ ? grpc::health::v1::HealthCheckResponse::NOT_SERVING
                                      : grpc::health::v1::HealthCheckResponse::SERVING);
  return grpc::Status::OK;
}

grpc::Status HealthServiceImpl::Watch(
    grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
    grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) {
  grpc::health::v1::HealthCheckResponse response;
  // An unknown service is said once and the stream stays open saying nothing more, as the
  // health protocol asks (it never becomes known in a running slipwayd).
  const bool known = KnownService(request->service());
  response.set_status(known ? grpc::health::v1::HealthCheckResponse::SERVING
                            : grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN);
  if (!writer->Write(response)) return grpc::Status::OK;
  absl::MutexLock lock(&mu_);
  while (!shutting_down_ && !context->IsCancelled()) {
    mu_.AwaitWithTimeout(absl::Condition(&shutting_down_), absl::Milliseconds(500));
  }
  if (shutting_down_ && known) {
    response.set_status(grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    writer->Write(response);
  }
  return grpc::Status::OK;
}

void HealthServiceImpl::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
}

}  // namespace slipway::server
