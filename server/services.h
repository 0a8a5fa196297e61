// The gRPC services of slipwayd and the one path every call takes through them:
// authenticate, run the domain operation, convert the status, record metrics. Included only by
// the server's own .cc files (it pulls in grpcpp).
#ifndef SLIPWAY_SERVER_SERVICES_H_
#define SLIPWAY_SERVER_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gitops/gitops.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "pipeline/pipeline_manager.h"
#include "preview/preview_manager.h"
#include "release/resource_logs.h"
#include "release/run_manager.h"
#include "release/stage_manager.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "slipway/v1/admin_service.grpc.pb.h"
#include "slipway/v1/audit_service.grpc.pb.h"
#include "slipway/v1/delivery_service.grpc.pb.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"
#include "slipway/v1/preview.grpc.pb.h"
#include "slipway/v1/release_service.grpc.pb.h"
#include "storage/audit_log.h"
#include "trigger/intake.h"

namespace slipway::server {

// What every service needs to handle a call. Not owned.
struct CallDeps {
  TokenManager* tokens;
  Metrics* metrics;
  // The audit trail; null records nothing (some tests).
  storage::AuditLog* audit = nullptr;
  // The browser API gateway's key (ConnectGatewayOptions::peer_key): a call carrying it may say
  // whose HTTP request it passes on. Random per process; empty trusts no call.
  std::string gateway_key;
};

// Who is calling and from where, for the audit trail and pipeline revisions: the peer's address
// (for the browser API, the HTTP client's, which the gateway passes on in process) and what
// kind of client it says it is (`slipway-client: cli|dashboard`).
struct CallOrigin {
  std::string address;
  v1::RevisionSource client = v1::REVISION_SOURCE_API;
};
CallOrigin OriginOf(const CallDeps& deps, const grpc::ServerContextBase* context);

// The author of a pipeline write made by `principal` on this call.
pipeline::Author AuthorOf(const CallDeps& deps, const Principal& principal,
                          const grpc::ServerContextBase* context);

// Authenticates the call for `scope`, runs `fn(principal)` (returning absl::Status), and
// returns the converted status; records the call in the metrics.
// Every call that changes something (not Get, List, Watch, Validate or Diff) by a valid token
// is appended to the audit trail (deps.audit) before its answer goes out, and logged once,
// as "audit: <Service/Method> by token <id> ("<description>") <target fields>
// [request_id="..."] -> <code>", or as refused when authentication failed; `request` (may be
// null) gives the target fields.
grpc::Status Serve(const CallDeps& deps, grpc::ServerContextBase* context, const char* method,
                   v1::Scope scope, const google::protobuf::Message* request,
                   const std::function<absl::Status(const Principal&)>& fn);

// GetPipeline, the hot read path, is a raw callback method: it answers with the pipeline's
// cached serialized bytes instead of copying and re-encoding the message per call.
class PipelineServiceImpl final
    : public v1::PipelineService::WithRawCallbackMethod_GetPipeline<v1::PipelineService::Service> {
 public:
  // `gitops` may be null (the GitOps calls are then UNIMPLEMENTED).
  PipelineServiceImpl(CallDeps deps, pipeline::PipelineManager* pipelines,
                      gitops::GitOps* gitops = nullptr)
      : deps_(deps), pipelines_(pipelines), gitops_(gitops) {}

  grpc::Status CreatePipeline(grpc::ServerContext* context,
                              const v1::CreatePipelineRequest* request,
                              v1::Pipeline* response) override;
  grpc::ServerUnaryReactor* GetPipeline(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::Status ListPipelines(grpc::ServerContext* context, const v1::ListPipelinesRequest* request,
                             v1::ListPipelinesResponse* response) override;
  grpc::Status UpdatePipeline(grpc::ServerContext* context,
                              const v1::UpdatePipelineRequest* request,
                              v1::Pipeline* response) override;
  grpc::Status DeletePipeline(grpc::ServerContext* context,
                              const v1::DeletePipelineRequest* request,
                              v1::DeletePipelineResponse* response) override;
  grpc::Status ApplyPipeline(grpc::ServerContext* context, const v1::ApplyPipelineRequest* request,
                             v1::ApplyPipelineResponse* response) override;
  grpc::Status ValidatePipeline(grpc::ServerContext* context,
                                const v1::ValidatePipelineRequest* request,
                                v1::ValidatePipelineResponse* response) override;
  grpc::Status ListPipelineRevisions(grpc::ServerContext* context,
                                     const v1::ListPipelineRevisionsRequest* request,
                                     v1::ListPipelineRevisionsResponse* response) override;
  grpc::Status GetPipelineRevision(grpc::ServerContext* context,
                                   const v1::GetPipelineRevisionRequest* request,
                                   v1::PipelineRevision* response) override;
  grpc::Status DiffPipelineRevisions(grpc::ServerContext* context,
                                     const v1::DiffPipelineRevisionsRequest* request,
                                     v1::DiffPipelineRevisionsResponse* response) override;
  grpc::Status EnableGitOps(grpc::ServerContext* context, const v1::EnableGitOpsRequest* request,
                            v1::GitOpsBinding* response) override;
  grpc::Status DisableGitOps(grpc::ServerContext* context, const v1::DisableGitOpsRequest* request,
                             v1::DisableGitOpsResponse* response) override;
  grpc::Status GetGitOps(grpc::ServerContext* context, const v1::GetGitOpsRequest* request,
                         v1::GitOpsBinding* response) override;

 private:
  CallDeps deps_;
  pipeline::PipelineManager* pipelines_;
  gitops::GitOps* gitops_;
};

// What GetServerInfo reports.
struct ServerInfoSource {
  std::string version;
  google::protobuf::Timestamp start_time;
  std::string storage = "sqlite";
  // This replica's id; empty on a single slipwayd.
  std::string replica;
  // Lists the replicas sharing the store (ListReplicas); empty on a single slipwayd.
  std::function<absl::StatusOr<std::vector<v1::Replica>>()> replicas;
};

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  AdminServiceImpl(CallDeps deps, ServerInfoSource info) : deps_(deps), info_(std::move(info)) {}

  grpc::Status CreateToken(grpc::ServerContext* context, const v1::CreateTokenRequest* request,
                           v1::CreateTokenResponse* response) override;
  grpc::Status ListTokens(grpc::ServerContext* context, const v1::ListTokensRequest* request,
                          v1::ListTokensResponse* response) override;
  grpc::Status RevokeToken(grpc::ServerContext* context, const v1::RevokeTokenRequest* request,
                           v1::Token* response) override;
  grpc::Status GetServerInfo(grpc::ServerContext* context, const v1::GetServerInfoRequest* request,
                             v1::ServerInfo* response) override;
  grpc::Status ListReplicas(grpc::ServerContext* context, const v1::ListReplicasRequest* request,
                            v1::ListReplicasResponse* response) override;

 private:
  CallDeps deps_;
  ServerInfoSource info_;
};

class ReleaseServiceImpl final : public v1::ReleaseService::Service {
 public:
  ReleaseServiceImpl(CallDeps deps, release::RunManager* runs, release::StageManager* stages,
                     release::ResourceLogReader* logs)
      : deps_(deps), runs_(runs), stages_(stages), logs_(logs) {}

  grpc::Status StartRun(grpc::ServerContext* context, const v1::StartRunRequest* request,
                        v1::Run* response) override;
  grpc::Status GetRun(grpc::ServerContext* context, const v1::GetRunRequest* request,
                      v1::Run* response) override;
  grpc::Status ListRuns(grpc::ServerContext* context, const v1::ListRunsRequest* request,
                        v1::ListRunsResponse* response) override;
  grpc::Status WatchRun(grpc::ServerContext* context, const v1::WatchRunRequest* request,
                        grpc::ServerWriter<v1::RunEvent>* writer) override;
  grpc::Status WatchResourceLogs(grpc::ServerContext* context,
                                 const v1::WatchResourceLogsRequest* request,
                                 grpc::ServerWriter<v1::ResourceLogChunk>* writer) override;
  grpc::Status CancelRun(grpc::ServerContext* context, const v1::CancelRunRequest* request,
                         v1::Run* response) override;
  grpc::Status ApproveRun(grpc::ServerContext* context, const v1::ApproveRunRequest* request,
                          v1::Run* response) override;
  grpc::Status RejectRun(grpc::ServerContext* context, const v1::ApproveRunRequest* request,
                         v1::Run* response) override;
  grpc::Status RetryRun(grpc::ServerContext* context, const v1::RetryRunRequest* request,
                        v1::Run* response) override;
  grpc::Status ListReleases(grpc::ServerContext* context, const v1::ListReleasesRequest* request,
                            v1::ListReleasesResponse* response) override;
  grpc::Status GetRelease(grpc::ServerContext* context, const v1::GetReleaseRequest* request,
                          v1::Release* response) override;
  grpc::Status RollbackStage(grpc::ServerContext* context, const v1::RollbackStageRequest* request,
                             v1::RollbackStageResponse* response) override;
  grpc::Status DiffReleases(grpc::ServerContext* context, const v1::DiffReleasesRequest* request,
                            v1::ReleaseDiff* response) override;
  grpc::Status HoldStage(grpc::ServerContext* context, const v1::HoldStageRequest* request,
                         v1::StageHold* response) override;
  grpc::Status ReleaseHold(grpc::ServerContext* context, const v1::ReleaseHoldRequest* request,
                           v1::ReleaseHoldResponse* response) override;
  grpc::Status GetStage(grpc::ServerContext* context, const v1::GetStageRequest* request,
                        v1::StageStatus* response) override;

 private:
  CallDeps deps_;
  release::RunManager* runs_;
  release::StageManager* stages_;
  release::ResourceLogReader* logs_;
};

class DeliveryServiceImpl final : public v1::DeliveryService::Service {
 public:
  DeliveryServiceImpl(CallDeps deps, trigger::WebhookIntake* intake)
      : deps_(deps), intake_(intake) {}

  grpc::Status ListDeliveries(grpc::ServerContext* context,
                              const v1::ListDeliveriesRequest* request,
                              v1::ListDeliveriesResponse* response) override;
  grpc::Status GetDelivery(grpc::ServerContext* context, const v1::GetDeliveryRequest* request,
                           v1::Delivery* response) override;
  grpc::Status Redeliver(grpc::ServerContext* context, const v1::RedeliverRequest* request,
                         v1::Delivery* response) override;

 private:
  CallDeps deps_;
  trigger::WebhookIntake* intake_;
};

// PreviewService over the preview manager. Reads need `read`; changes need `deploy`.
class PreviewServiceImpl final : public v1::PreviewService::Service {
 public:
  PreviewServiceImpl(CallDeps deps, preview::PreviewManager* previews,
                     pipeline::PipelineManager* pipelines)
      : deps_(deps), previews_(previews), pipelines_(pipelines) {}

  grpc::Status ListPreviews(grpc::ServerContext* context, const v1::ListPreviewsRequest* request,
                            v1::ListPreviewsResponse* response) override;
  grpc::Status GetPreview(grpc::ServerContext* context, const v1::GetPreviewRequest* request,
                          v1::Preview* response) override;
  grpc::Status CreatePreview(grpc::ServerContext* context, const v1::CreatePreviewRequest* request,
                             v1::Preview* response) override;
  grpc::Status DeletePreview(grpc::ServerContext* context, const v1::DeletePreviewRequest* request,
                             v1::Preview* response) override;
  grpc::Status ExtendPreview(grpc::ServerContext* context, const v1::ExtendPreviewRequest* request,
                             v1::Preview* response) override;
  grpc::Status PausePreview(grpc::ServerContext* context, const v1::PausePreviewRequest* request,
                            v1::Preview* response) override;
  grpc::Status ResumePreview(grpc::ServerContext* context, const v1::ResumePreviewRequest* request,
                             v1::Preview* response) override;

 private:
  CallDeps deps_;
  preview::PreviewManager* previews_;
  pipeline::PipelineManager* pipelines_;
};

// AuditService: reading the audit trail needs `admin`.
class AuditServiceImpl final : public v1::AuditService::Service {
 public:
  explicit AuditServiceImpl(CallDeps deps) : deps_(deps) {}

  grpc::Status ListAuditRecords(grpc::ServerContext* context,
                                const v1::ListAuditRecordsRequest* request,
                                v1::ListAuditRecordsResponse* response) override;

 private:
  CallDeps deps_;
};

// grpc.health.v1.Health without authentication, so probes and load balancers can use it.
// "" and every Slipway service name report SERVING until Shutdown().
class HealthServiceImpl final : public grpc::health::v1::Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;
  // Reports NOT_SERVING from now on and ends every Watch.
  void Shutdown();

 private:
  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_SERVICES_H_
