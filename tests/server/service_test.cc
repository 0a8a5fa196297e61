// Service tests: a real server on 127.0.0.1:0 called through the generated stubs.
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <functional>

#include "common/proto_time.h"
#include "common/version.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "slipway/v1/admin_service.grpc.pb.h"
#include "slipway/v1/delivery_service.grpc.pb.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"
#include "slipway/v1/preview.grpc.pb.h"
#include "slipway/v1/release_service.grpc.pb.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/test_server.h"

namespace slipway {
namespace {

using ::testing::HasSubstr;
using testing::TestServer;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pipelines_ = v1::PipelineService::NewStub(server_.Channel());
    admin_ = v1::AdminService::NewStub(server_.Channel());
    releases_ = v1::ReleaseService::NewStub(server_.Channel());
  }
  grpc::Status Apply(const v1::Pipeline& p, v1::ApplyPipelineResponse* out = nullptr) {
    v1::ApplyPipelineRequest req;
    *req.mutable_pipeline() = p;
    v1::ApplyPipelineResponse resp;
    grpc::Status s = pipelines_->ApplyPipeline(Ctx().get(), req, out ? out : &resp);
    return s;
  }
  std::unique_ptr<grpc::ClientContext> Ctx() { return TestServer::Context(server_.admin_token()); }

  TestServer server_;
  std::unique_ptr<v1::PipelineService::Stub> pipelines_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::ReleaseService::Stub> releases_;
};

TEST_F(ServiceTest, PipelineLifecycleThroughEveryRpc) {
  v1::CreatePipelineRequest create;
  *create.mutable_pipeline() = testing::MinimalPipeline("shop");
  v1::Pipeline created;
  ASSERT_TRUE(pipelines_->CreatePipeline(Ctx().get(), create, &created).ok());
  EXPECT_EQ(created.revision(), 1);
  EXPECT_TRUE(created.sources(0).webhook_secret().redacted());

  v1::GetPipelineRequest get;
  get.set_name("shop");
  v1::Pipeline got;
  ASSERT_TRUE(pipelines_->GetPipeline(Ctx().get(), get, &got).ok());
  EXPECT_EQ(got.etag(), created.etag());
  EXPECT_EQ(got.SerializeAsString().find("s3cret"), std::string::npos);

  v1::ListPipelinesRequest list;
  v1::ListPipelinesResponse listed;
  ASSERT_TRUE(pipelines_->ListPipelines(Ctx().get(), list, &listed).ok());
  ASSERT_EQ(listed.pipelines_size(), 1);
  EXPECT_EQ(listed.pipelines(0).SerializeAsString().find("s3cret"), std::string::npos);

  v1::UpdatePipelineRequest update;
  *update.mutable_pipeline() = got;
  update.mutable_pipeline()->set_description("updated");
  v1::Pipeline updated;
  ASSERT_TRUE(pipelines_->UpdatePipeline(Ctx().get(), update, &updated).ok());
  EXPECT_EQ(updated.revision(), 2);

  grpc::Status stale = pipelines_->UpdatePipeline(Ctx().get(), update, &updated);
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(stale.error_message(), HasSubstr("stale"));

  v1::ValidatePipelineRequest validate;
  *validate.mutable_pipeline() = got;
  validate.mutable_pipeline()->mutable_stages(0)->mutable_resources(0)->set_driver("dokcer");
  v1::ValidatePipelineResponse validated;
  ASSERT_TRUE(pipelines_->ValidatePipeline(Ctx().get(), validate, &validated).ok());
  EXPECT_FALSE(validated.valid());
  EXPECT_EQ(validated.problems(0).field(), "stages[dev].resources[web].driver");

  v1::ApplyPipelineResponse applied;
  ASSERT_TRUE(Apply(testing::MinimalPipeline("shop"), &applied).ok());
  EXPECT_EQ(applied.result(), v1::ApplyPipelineResponse::RESULT_UPDATED);
  EXPECT_THAT(applied.changed(), ::testing::ElementsAre("description"));

  v1::DeletePipelineRequest del;
  del.set_name("shop");
  v1::DeletePipelineResponse deleted;
  ASSERT_TRUE(pipelines_->DeletePipeline(Ctx().get(), del, &deleted).ok());
  EXPECT_EQ(pipelines_->GetPipeline(Ctx().get(), get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// Everything run start would refuse, apply refuses first, naming the field; and nesting at and
// beyond each limit is INVALID_ARGUMENT naming the limit, never INTERNAL or a crash.
TEST_F(ServiceTest, ApplyRefusesWhatRunStartWouldRefuseAndEveryLimitIsNamed) {
  auto apply_with = [&](const std::function<void(v1::Pipeline&)>& edit) {
    v1::ApplyPipelineRequest req;
    *req.mutable_pipeline() = testing::MinimalPipeline("shop");
    edit(*req.mutable_pipeline());
    v1::ApplyPipelineResponse resp;
    return pipelines_->ApplyPipeline(Ctx().get(), req, &resp);
  };
  auto version = [](v1::Pipeline& p) {
    return p.mutable_stages(0)
        ->mutable_flow()
        ->mutable_sequential()
        ->mutable_steps(0)
        ->mutable_deploy()
        ->mutable_artifact()
        ->mutable_version();
  };
  // An unbalanced call used to pass apply and fail only when a run started.
  grpc::Status s = apply_with([&](v1::Pipeline& p) { *version(p) = "${slug(trigger.branch}"; });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("stages[dev].flow.sequential[0].deploy.artifact.version: at "));
  // Reading an output of a later node, which the old apply-time scanner let through.
  s = apply_with([&](v1::Pipeline& p) { *version(p) = "${refs.later.version}"; });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("there is no node \"later\""));

  // Calls nested 32 deep are fine; 33 and 7,000 are refused by apply.
  auto nested = [](int depth) {
    std::string e = "${";
    for (int i = 0; i < depth; ++i) e += "lower(";
    e += "trigger.branch";
    for (int i = 0; i < depth; ++i) e += ")";
    return e + "}";
  };
  EXPECT_TRUE(apply_with([&](v1::Pipeline& p) { *version(p) = nested(31); }).ok());
  for (int depth : {33, 7000}) {
    s = apply_with([&](v1::Pipeline& p) { *version(p) = nested(depth); });
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << depth;
    EXPECT_THAT(s.error_message(), HasSubstr("nested deeper than 32")) << depth;
  }

  // Nested workflows: 16 levels are fine, 17 and 200 are refused, naming the limit.
  auto nest_flow = [](v1::Pipeline& p, int depth) {
    v1::Step* step = p.mutable_stages(0)->mutable_flow()->mutable_sequential()->mutable_steps(0);
    v1::Step leaf = *step;
    for (int i = 0; i < depth; ++i) {
      step->clear_ref();
      step = step->mutable_sequential()->add_steps();
    }
    *step = leaf;
  };
  s = apply_with([&](v1::Pipeline& p) { nest_flow(p, 15); });
  EXPECT_TRUE(s.ok()) << s.error_message();
  for (int depth : {17, 60, 200}) {
    s = apply_with([&](v1::Pipeline& p) { nest_flow(p, depth); });
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << depth << " " << s.error_message();
    EXPECT_THAT(s.error_message(),
                depth < 40 ? HasSubstr("nested more than 16") : HasSubstr("nested deeper than 100"))
        << depth;
  }
}

TEST_F(ServiceTest, InvalidArgumentCarriesEveryProblemAsBadRequestFieldViolations) {
  v1::CreatePipelineRequest create;
  *create.mutable_pipeline() = testing::MinimalPipeline("shop");
  create.mutable_pipeline()->mutable_stages(0)->mutable_resources(0)->set_driver("dokcer");
  create.mutable_pipeline()->mutable_stages(1)->mutable_resources(0)->set_driver("podmn");
  v1::Pipeline out;
  grpc::Status s = pipelines_->CreatePipeline(Ctx().get(), create, &out);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("2 problems:"));
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(s.error_details()));
  EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_EQ(details.details(0).type_url(), "type.googleapis.com/google.rpc.BadRequest");
  google::rpc::BadRequest bad;
  ASSERT_TRUE(bad.ParseFromString(details.details(0).value()));
  ASSERT_EQ(bad.field_violations_size(), 2);
  EXPECT_EQ(bad.field_violations(0).field(), "stages[dev].resources[web].driver");
  EXPECT_THAT(bad.field_violations(0).description(), HasSubstr("unknown driver \"dokcer\""));
  EXPECT_EQ(bad.field_violations(1).field(), "stages[prod].resources[web].driver");
  // Errors that are not about fields carry no details.
  v1::GetPipelineRequest get;
  get.set_name("nope");
  v1::Pipeline got;
  grpc::Status missing = pipelines_->GetPipeline(Ctx().get(), get, &got);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(missing.error_details().empty());
}

TEST_F(ServiceTest, ErrorCodesReachTheClientWithTheFieldInTheMessage) {
  v1::CreatePipelineRequest create;
  *create.mutable_pipeline() = testing::MinimalPipeline("shop");
  create.mutable_pipeline()->mutable_stages(1)->mutable_resources(0)->set_driver("dokcer");
  v1::Pipeline out;
  grpc::Status s = pipelines_->CreatePipeline(Ctx().get(), create, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("stages[prod].resources[web].driver: unknown driver \"dokcer\""));

  ASSERT_TRUE(Apply(testing::MinimalPipeline("shop")).ok());
  *create.mutable_pipeline() = testing::MinimalPipeline("shop");
  EXPECT_EQ(pipelines_->CreatePipeline(Ctx().get(), create, &out).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  v1::GetPipelineRequest get;
  get.set_name("nope");
  s = pipelines_->GetPipeline(Ctx().get(), get, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("pipeline \"nope\" not found"));

  get.set_name("Not A Name");
  EXPECT_EQ(pipelines_->GetPipeline(Ctx().get(), get, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::UpdatePipelineRequest update;
  *update.mutable_pipeline() = testing::MinimalPipeline("shop");
  s = pipelines_->UpdatePipeline(Ctx().get(), update, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("pipeline.etag"));

  v1::DeletePipelineRequest del;
  del.set_name("shop");
  del.set_etag("stale");
  v1::DeletePipelineResponse deleted;
  EXPECT_EQ(pipelines_->DeletePipeline(Ctx().get(), del, &deleted).error_code(),
            grpc::StatusCode::ABORTED);

  v1::ListPipelinesRequest list;
  list.set_page_size(1000);
  v1::ListPipelinesResponse listed;
  EXPECT_EQ(pipelines_->ListPipelines(Ctx().get(), list, &listed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::RevokeTokenRequest revoke;
  revoke.set_id("nope");
  v1::Token token;
  EXPECT_EQ(admin_->RevokeToken(Ctx().get(), revoke, &token).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::CreateTokenRequest no_scope;
  v1::CreateTokenResponse created;
  EXPECT_EQ(admin_->CreateToken(Ctx().get(), no_scope, &created).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, OversizeRequestIsRejectedAndWritesNothing) {
  v1::CreatePipelineRequest create;
  *create.mutable_pipeline() = testing::MinimalPipeline("big");
  create.mutable_pipeline()->set_description(std::string(2 << 20, 'x'));
  v1::Pipeline out;
  grpc::Status s = pipelines_->CreatePipeline(Ctx().get(), create, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("1 MiB"));
  create.mutable_pipeline()->set_description(std::string(5 << 20, 'x'));
  EXPECT_EQ(pipelines_->CreatePipeline(Ctx().get(), create, &out).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::GetPipelineRequest get;
  get.set_name("big");
  EXPECT_EQ(pipelines_->GetPipeline(Ctx().get(), get, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, RetriedRequestIdReturnsTheFirstResult) {
  v1::ApplyPipelineRequest req;
  *req.mutable_pipeline() = testing::MinimalPipeline("shop");
  req.set_request_id("ci-job-77");
  v1::ApplyPipelineResponse first, second;
  ASSERT_TRUE(pipelines_->ApplyPipeline(Ctx().get(), req, &first).ok());
  ASSERT_TRUE(pipelines_->ApplyPipeline(Ctx().get(), req, &second).ok());
  EXPECT_EQ(first.result(), v1::ApplyPipelineResponse::RESULT_CREATED);
  // A retry is told what the first call did, not "unchanged".
  EXPECT_EQ(second.result(), v1::ApplyPipelineResponse::RESULT_CREATED);
  EXPECT_EQ(second.pipeline().etag(), first.pipeline().etag());
}

// One entry per RPC: its name, the scope it needs, and a call with a given context.
struct RpcCase {
  std::string name;
  v1::Scope needed;
  std::function<grpc::Status(grpc::ClientContext*)> call;
};

class AuthMatrixTest : public ServiceTest {
 protected:
  std::vector<RpcCase> Cases() {
    auto* p = pipelines_.get();
    auto* a = admin_.get();
    return {
        {"CreatePipeline", v1::SCOPE_ADMIN,
         [p](grpc::ClientContext* c) {
           v1::CreatePipelineRequest r;
           *r.mutable_pipeline() = testing::MinimalPipeline("authz");
           v1::Pipeline o;
           return p->CreatePipeline(c, r, &o);
         }},
        {"GetPipeline", v1::SCOPE_READ,
         [p](grpc::ClientContext* c) {
           v1::GetPipelineRequest r;
           r.set_name("shop");
           v1::Pipeline o;
           return p->GetPipeline(c, r, &o);
         }},
        {"ListPipelines", v1::SCOPE_READ,
         [p](grpc::ClientContext* c) {
           v1::ListPipelinesResponse o;
           return p->ListPipelines(c, {}, &o);
         }},
        {"UpdatePipeline", v1::SCOPE_ADMIN,
         [p](grpc::ClientContext* c) {
           v1::UpdatePipelineRequest r;
           *r.mutable_pipeline() = testing::MinimalPipeline("shop");
           r.mutable_pipeline()->set_etag("x");
           v1::Pipeline o;
           return p->UpdatePipeline(c, r, &o);
         }},
        {"DeletePipeline", v1::SCOPE_ADMIN,
         [p](grpc::ClientContext* c) {
           v1::DeletePipelineRequest r;
           r.set_name("nothing-here");
           v1::DeletePipelineResponse o;
           return p->DeletePipeline(c, r, &o);
         }},
        {"ApplyPipeline", v1::SCOPE_ADMIN,
         [p](grpc::ClientContext* c) {
           v1::ApplyPipelineRequest r;
           *r.mutable_pipeline() = testing::MinimalPipeline("shop");
           v1::ApplyPipelineResponse o;
           return p->ApplyPipeline(c, r, &o);
         }},
        {"ValidatePipeline", v1::SCOPE_READ,
         [p](grpc::ClientContext* c) {
           v1::ValidatePipelineRequest r;
           *r.mutable_pipeline() = testing::MinimalPipeline("shop");
           v1::ValidatePipelineResponse o;
           return p->ValidatePipeline(c, r, &o);
         }},
        {"CreateToken", v1::SCOPE_ADMIN,
         [a](grpc::ClientContext* c) {
           v1::CreateTokenRequest r;
           r.set_scope(v1::SCOPE_READ);
           v1::CreateTokenResponse o;
           return a->CreateToken(c, r, &o);
         }},
        {"ListTokens", v1::SCOPE_ADMIN,
         [a](grpc::ClientContext* c) {
           v1::ListTokensResponse o;
           return a->ListTokens(c, {}, &o);
         }},
        {"StartRun", v1::SCOPE_DEPLOY,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::StartRunRequest q;
           q.set_pipeline("shop");
           q.set_stage("nope");
           v1::Run o;
           return r->StartRun(c, q, &o);
         }},
        {"GetRun", v1::SCOPE_READ,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::GetRunRequest q;
           q.set_id("run-none");
           v1::Run o;
           return r->GetRun(c, q, &o);
         }},
        {"ListRuns", v1::SCOPE_READ,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::ListRunsResponse o;
           return r->ListRuns(c, {}, &o);
         }},
        {"WatchRun", v1::SCOPE_READ,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::WatchRunRequest q;
           q.set_id("run-none");
           auto reader = r->WatchRun(c, q);
           v1::RunEvent e;
           while (reader->Read(&e)) {
           }
           return reader->Finish();
         }},
        {"CancelRun", v1::SCOPE_DEPLOY,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::CancelRunRequest q;
           q.set_id("run-none");
           v1::Run o;
           return r->CancelRun(c, q, &o);
         }},
        {"ApproveRun", v1::SCOPE_DEPLOY,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::ApproveRunRequest q;
           q.set_id("run-none");
           q.set_node("go");
           v1::Run o;
           return r->ApproveRun(c, q, &o);
         }},
        {"RejectRun", v1::SCOPE_DEPLOY,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::ApproveRunRequest q;
           q.set_id("run-none");
           q.set_node("go");
           v1::Run o;
           return r->RejectRun(c, q, &o);
         }},
        {"RetryRun", v1::SCOPE_DEPLOY,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::RetryRunRequest q;
           q.set_id("run-none");
           v1::Run o;
           return r->RetryRun(c, q, &o);
         }},
        {"ListReleases", v1::SCOPE_READ,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::ListReleasesRequest q;
           q.set_pipeline("shop");
           q.set_stage("dev");
           v1::ListReleasesResponse o;
           return r->ListReleases(c, q, &o);
         }},
        {"GetRelease", v1::SCOPE_READ,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::GetReleaseRequest q;
           q.set_pipeline("shop");
           q.set_stage("dev");
           q.set_number(1);
           v1::Release o;
           return r->GetRelease(c, q, &o);
         }},
        {"RollbackStage", v1::SCOPE_DEPLOY,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::RollbackStageRequest q;
           q.set_pipeline("shop");
           q.set_stage("dev");
           v1::RollbackStageResponse o;
           return r->RollbackStage(c, q, &o);
         }},
        {"DiffReleases", v1::SCOPE_READ,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::DiffReleasesRequest q;
           q.set_pipeline("shop");
           q.set_stage("dev");
           q.set_from_release(1);
           q.set_to_release(2);
           v1::ReleaseDiff o;
           return r->DiffReleases(c, q, &o);
         }},
        {"HoldStage", v1::SCOPE_DEPLOY,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::HoldStageRequest q;
           q.set_pipeline("shop");
           q.set_stage("dev");
           q.set_reason("auth matrix");
           v1::StageHold o;
           return r->HoldStage(c, q, &o);
         }},
        {"ReleaseHold", v1::SCOPE_DEPLOY,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::ReleaseHoldRequest q;
           q.set_pipeline("shop");
           q.set_stage("dev");
           v1::ReleaseHoldResponse o;
           return r->ReleaseHold(c, q, &o);
         }},
        {"GetStage", v1::SCOPE_READ,
         [r = releases_.get()](grpc::ClientContext* c) {
           v1::GetStageRequest q;
           q.set_pipeline("shop");
           q.set_stage("dev");
           v1::StageStatus o;
           return r->GetStage(c, q, &o);
         }},
        {"ListDeliveries", v1::SCOPE_READ,
         [ch = server_.Channel()](grpc::ClientContext* c) {
           v1::ListDeliveriesResponse o;
           return v1::DeliveryService::NewStub(ch)->ListDeliveries(c, {}, &o);
         }},
        {"GetDelivery", v1::SCOPE_READ,
         [ch = server_.Channel()](grpc::ClientContext* c) {
           v1::GetDeliveryRequest q;
           q.set_id("dlv-none");
           v1::Delivery o;
           return v1::DeliveryService::NewStub(ch)->GetDelivery(c, q, &o);
         }},
        {"Redeliver", v1::SCOPE_DEPLOY,
         [ch = server_.Channel()](grpc::ClientContext* c) {
           v1::RedeliverRequest q;
           q.set_id("dlv-none");
           v1::Delivery o;
           return v1::DeliveryService::NewStub(ch)->Redeliver(c, q, &o);
         }},
        {"ListPreviews", v1::SCOPE_READ,
         [ch = server_.Channel()](grpc::ClientContext* c) {
           v1::ListPreviewsResponse o;
           return v1::PreviewService::NewStub(ch)->ListPreviews(c, {}, &o);
         }},
        {"GetPreview", v1::SCOPE_READ,
         [ch = server_.Channel()](grpc::ClientContext* c) {
           v1::GetPreviewRequest q;
           q.set_name("none");
           v1::Preview o;
           return v1::PreviewService::NewStub(ch)->GetPreview(c, q, &o);
         }},
        {"CreatePreview", v1::SCOPE_DEPLOY,
         [ch = server_.Channel()](grpc::ClientContext* c) {
           v1::CreatePreviewRequest q;
           q.set_pipeline("shop");
           q.set_blueprint("none");
           q.set_branch("x");
           v1::Preview o;
           return v1::PreviewService::NewStub(ch)->CreatePreview(c, q, &o);
         }},
        {"DeletePreview", v1::SCOPE_DEPLOY,
         [ch = server_.Channel()](grpc::ClientContext* c) {
           v1::DeletePreviewRequest q;
           q.set_name("none");
           v1::Preview o;
           return v1::PreviewService::NewStub(ch)->DeletePreview(c, q, &o);
         }},
        {"ExtendPreview", v1::SCOPE_DEPLOY,
         [ch = server_.Channel()](grpc::ClientContext* c) {
           v1::ExtendPreviewRequest q;
           q.set_name("none");
           *q.mutable_duration() = slipway::ProtoDuration(absl::Hours(1));
           v1::Preview o;
           return v1::PreviewService::NewStub(ch)->ExtendPreview(c, q, &o);
         }},
        {"PausePreview", v1::SCOPE_DEPLOY,
         [ch = server_.Channel()](grpc::ClientContext* c) {
           v1::PausePreviewRequest q;
           q.set_name("none");
           v1::Preview o;
           return v1::PreviewService::NewStub(ch)->PausePreview(c, q, &o);
         }},
        {"ResumePreview", v1::SCOPE_DEPLOY,
         [ch = server_.Channel()](grpc::ClientContext* c) {
           v1::ResumePreviewRequest q;
           q.set_name("none");
           v1::Preview o;
           return v1::PreviewService::NewStub(ch)->ResumePreview(c, q, &o);
         }},
        {"RevokeToken", v1::SCOPE_ADMIN,
         [a](grpc::ClientContext* c) {
           v1::RevokeTokenRequest r;
           r.set_id("nothing-here");
           v1::Token o;
           return a->RevokeToken(c, r, &o);
         }},
        {"GetServerInfo", v1::SCOPE_READ,
         [a](grpc::ClientContext* c) {
           v1::ServerInfo o;
           return a->GetServerInfo(c, v1::GetServerInfoRequest(), &o);
         }},
    };
  }
};

TEST_F(AuthMatrixTest, EveryRpcChecksTokenAndScope) {
  ASSERT_TRUE(Apply(testing::MinimalPipeline("shop")).ok());
  std::map<v1::Scope, std::string> tokens = {
      {v1::SCOPE_READ, server_.IssueToken(v1::SCOPE_READ)},
      {v1::SCOPE_DEPLOY, server_.IssueToken(v1::SCOPE_DEPLOY)},
      {v1::SCOPE_ADMIN, server_.admin_token()},
  };
  // A revoked admin token.
  std::string revoked = server_.IssueToken(v1::SCOPE_ADMIN);
  {
    v1::ListTokensResponse list;
    ASSERT_TRUE(admin_->ListTokens(Ctx().get(), {}, &list).ok());
    v1::RevokeTokenRequest r;
    r.set_id(list.tokens(list.tokens_size() - 1).id());
    v1::Token t;
    ASSERT_TRUE(admin_->RevokeToken(Ctx().get(), r, &t).ok());
  }
  const std::string unknown = "slw_" + std::string(64, 'a');

  for (const RpcCase& rpc : Cases()) {
    SCOPED_TRACE(rpc.name);
    for (const std::string& bad : {std::string(), std::string("garbage"), unknown, revoked}) {
      auto ctx = TestServer::Context(bad);
      grpc::Status s = rpc.call(ctx.get());
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "token: " << bad;
    }
    {
      // Not a Bearer credential at all.
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", "Basic " + server_.admin_token());
      EXPECT_EQ(rpc.call(&ctx).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    }
    for (const auto& [scope, token] : tokens) {
      auto ctx = TestServer::Context(token);
      grpc::Status s = rpc.call(ctx.get());
      if (scope < rpc.needed) {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << "scope " << scope;
        EXPECT_THAT(s.error_message(), HasSubstr("needs"));
      } else {
        EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << "scope " << scope;
        EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "scope " << scope;
      }
    }
  }
}

TEST_F(ServiceTest, AReadTokenCannotChangeAnything) {
  std::string read = server_.IssueToken(v1::SCOPE_READ);
  v1::ApplyPipelineRequest req;
  *req.mutable_pipeline() = testing::MinimalPipeline("shop");
  v1::ApplyPipelineResponse out;
  EXPECT_EQ(pipelines_->ApplyPipeline(TestServer::Context(read).get(), req, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ListPipelinesResponse listed;
  ASSERT_TRUE(pipelines_->ListPipelines(TestServer::Context(read).get(), {}, &listed).ok());
  EXPECT_EQ(listed.pipelines_size(), 0);
}

TEST_F(ServiceTest, RunsStartWatchAndResumeFromASequenceNumber) {
  v1::Pipeline p = testing::MinimalPipeline("shop");
  // A flow that touches no process and needs no time to pass (the server's clock is fake).
  auto* steps = p.mutable_stages(0)->mutable_flow()->mutable_sequential();
  steps->Clear();
  auto* node = steps->add_steps();
  node->set_ref("maybe");
  node->set_skip_if("true");
  node->mutable_deploy()->set_resource("web");
  ASSERT_TRUE(Apply(p).ok());
  v1::StartRunRequest start;
  start.set_pipeline("shop");
  start.set_stage("dev");
  start.set_request_id("ci-7");
  v1::Run run;
  ASSERT_TRUE(releases_->StartRun(Ctx().get(), start, &run).ok());
  v1::Run again;
  ASSERT_TRUE(releases_->StartRun(Ctx().get(), start, &again).ok());
  EXPECT_EQ(again.id(), run.id());

  std::vector<v1::RunEvent> all;
  {
    auto ctx = Ctx();
    v1::WatchRunRequest watch;
    watch.set_id(run.id());
    auto reader = releases_->WatchRun(ctx.get(), watch);
    v1::RunEvent e;
    while (reader->Read(&e)) all.push_back(e);
    ASSERT_TRUE(reader->Finish().ok());
  }
  ASSERT_GE(all.size(), 4u);
  EXPECT_EQ(all.back().state(), v1::RUN_STATE_SUCCEEDED);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].sequence(), int64_t(i + 1));
  // A reconnecting client asks for what came after the last event it saw.
  std::vector<v1::RunEvent> rest;
  {
    auto ctx = Ctx();
    v1::WatchRunRequest watch;
    watch.set_id(run.id());
    watch.set_after_sequence(2);
    auto reader = releases_->WatchRun(ctx.get(), watch);
    v1::RunEvent e;
    while (reader->Read(&e)) rest.push_back(e);
    ASSERT_TRUE(reader->Finish().ok());
  }
  ASSERT_EQ(rest.size(), all.size() - 2);
  EXPECT_EQ(rest.front().sequence(), 3);

  v1::ListRunsRequest list;
  list.set_pipeline("shop");
  v1::ListRunsResponse runs;
  ASSERT_TRUE(releases_->ListRuns(Ctx().get(), list, &runs).ok());
  ASSERT_EQ(runs.runs_size(), 1);
  EXPECT_EQ(runs.runs(0).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(runs.runs(0).trigger().event(), "api");

  start.set_stage("nope");
  start.clear_request_id();
  grpc::Status s = releases_->StartRun(Ctx().get(), start, &run);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("stage \"nope\""));
}

TEST_F(ServiceTest, HealthReportsServingWithoutAToken) {
  auto health = grpc::health::v1::Health::NewStub(server_.Channel());
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  auto ctx = TestServer::Context("");
  ASSERT_TRUE(health->Check(ctx.get(), req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  req.set_service("slipway.v1.PipelineService");
  ASSERT_TRUE(health->Check(TestServer::Context("").get(), req, &resp).ok());
  req.set_service("no.such.Service");
  EXPECT_EQ(health->Check(TestServer::Context("").get(), req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, HealthWatchOfAnUnknownServiceSaysSoOnceAndNothingAfter) {
  auto health = grpc::health::v1::Health::NewStub(server_.Channel());
  grpc::health::v1::HealthCheckRequest req;
  req.set_service("no.such.Service");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(1500));
  auto reader = health->Watch(&ctx, req);
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN);
  // The stream ends only at the deadline, with no second status.
  EXPECT_FALSE(reader->Read(&resp)) << "then said " << resp.status();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  req.set_service("");
  grpc::ClientContext known;
  known.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  auto watch = health->Watch(&known, req);
  ASSERT_TRUE(watch->Read(&resp));
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

// Sends one ServerReflectionRequest (encoded by hand: the reflection protos are not shipped
// with Debian's gRPC) and returns the raw response bytes.
std::string ReflectionCall(std::shared_ptr<grpc::Channel> channel, const std::string& request,
                           const std::string& version = "v1alpha") {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = stub.PrepareCall(
      &ctx, "/grpc.reflection." + version + ".ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::Slice slice(request);
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  std::string bytes;
  if (ok) {
    std::vector<grpc::Slice> slices;
    (void)in.Dump(&slices);
    for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  call->WritesDone(reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return bytes;
}

TEST_F(ServiceTest, ReflectionListsAndDescribesServicesIncludingHealth) {
  // list_services (field 7) = "*"
  std::string listed = ReflectionCall(server_.Channel(), std::string("\x3a\x01*", 3));
  EXPECT_THAT(listed, HasSubstr("slipway.v1.PipelineService"));
  EXPECT_THAT(listed, HasSubstr("slipway.v1.AdminService"));
  EXPECT_THAT(listed, HasSubstr("grpc.health.v1.Health"));
  // file_containing_symbol (field 4) = "grpc.health.v1.Health"
  std::string symbol = "grpc.health.v1.Health";
  std::string req = std::string("\x22", 1) + static_cast<char>(symbol.size()) + symbol;
  std::string described = ReflectionCall(server_.Channel(), req);
  EXPECT_THAT(described, HasSubstr("grpc/health/v1/health.proto"));
  EXPECT_THAT(described, HasSubstr("HealthCheckResponse"));
}

TEST_F(ServiceTest, ReflectionV1ListsAndDescribesTheSameServices) {
  // By hand, as a client that knows only the wire format would ask.
  std::string listed = ReflectionCall(server_.Channel(), std::string("\x3a\x01*", 3), "v1");
  EXPECT_THAT(listed, HasSubstr("slipway.v1.PipelineService"));
  EXPECT_THAT(listed, HasSubstr("grpc.reflection.v1.ServerReflection"));

  // Through the generated stub: several requests on one stream, each answered in order.
  auto stub = grpc::reflection::v1::ServerReflection::NewStub(server_.Channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1::ServerReflectionRequest req;
  grpc::reflection::v1::ServerReflectionResponse resp;

  req.set_list_services("");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  std::vector<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names,
              ::testing::IsSupersetOf({"slipway.v1.PipelineService", "slipway.v1.AdminService",
                                       "slipway.v1.ReleaseService", "slipway.v1.DeliveryService",
                                       "slipway.v1.PreviewService", "grpc.health.v1.Health"}));

  req.set_file_containing_symbol("slipway.v1.ReleaseService.RollbackStage");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_TRUE(resp.has_file_descriptor_response()) << resp.DebugString();
  std::vector<std::string> files;
  for (const std::string& bytes : resp.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    files.push_back(file.name());
  }
  // The file first, then what it imports, directly or not.
  ASSERT_FALSE(files.empty());
  EXPECT_EQ(files[0], "slipway/v1/release_service.proto");
  EXPECT_THAT(files, ::testing::Contains("slipway/v1/release.proto"));
  EXPECT_THAT(files, ::testing::Contains("slipway/v1/pipeline.proto"));
  EXPECT_EQ(resp.original_request().file_containing_symbol(),
            "slipway.v1.ReleaseService.RollbackStage");

  req.set_file_containing_symbol("slipway.v1.NoSuchThing");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.error_response().error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_THAT(resp.error_response().error_message(), HasSubstr("slipway.v1.NoSuchThing"));

  req.set_file_by_filename("grpc/health/v1/health.proto");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.file_descriptor_response().file_descriptor_proto_size(), 1);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServiceTest, ServerInfoReportsTheVersion) {
  v1::ServerInfo info;
  ASSERT_TRUE(admin_->GetServerInfo(Ctx().get(), v1::GetServerInfoRequest(), &info).ok());
  EXPECT_EQ(info.version(), Version());
  EXPECT_EQ(info.storage(), "sqlite");
  EXPECT_TRUE(info.has_start_time());
}

TEST_F(ServiceTest, HttpEndpointsAndMetrics) {
  httplib::Client http("127.0.0.1", server_.http_port());
  auto healthz = http.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
  auto readyz = http.Get("/readyz");
  ASSERT_TRUE(readyz);
  EXPECT_EQ(readyz->status, 200);

  v1::GetPipelineRequest get;
  get.set_name("nope");
  v1::Pipeline out;
  pipelines_->GetPipeline(Ctx().get(), get, &out);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->body, HasSubstr("slipway_grpc_requests_total{code=\"NOT_FOUND\",method=\"/"
                                       "slipway.v1.PipelineService/GetPipeline\"} 1"));
  EXPECT_THAT(metrics->body, HasSubstr("slipway_grpc_request_duration_seconds_bucket"));
  EXPECT_EQ(metrics->body.find(server_.admin_token()), std::string::npos);

  // promtool, when installed, must accept the output.
  if (std::system("command -v promtool >/dev/null 2>&1") == 0) {
    testing::TempDir dir;
    std::string path = dir.File("metrics.txt");
    {
      std::ofstream f(path);
      f << metrics->body;
    }
    std::string cmd = "promtool check metrics < " + path + " > " + dir.File("out") + " 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream result(dir.File("out"));
    std::stringstream ss;
    ss << result.rdbuf();
    EXPECT_EQ(rc, 0) << ss.str();
  }
}

TEST_F(ServiceTest, ShutdownLetsAnInFlightCallFinishAndReportsNotReady) {
  ASSERT_TRUE(Apply(testing::MinimalPipeline("shop")).ok());
  server_.server().Shutdown(absl::Seconds(5));
  httplib::Client http("127.0.0.1", server_.http_port());
  EXPECT_FALSE(http.Get("/healthz"));
  v1::GetPipelineRequest get;
  get.set_name("shop");
  v1::Pipeline out;
  auto ctx = TestServer::Context(server_.admin_token());
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  EXPECT_NE(pipelines_->GetPipeline(ctx.get(), get, &out).error_code(), grpc::StatusCode::OK);
}

TEST(ServerRestartTest, DataSurvivesARestartOnTheSameDataDir) {
  TestServer server;
  {
    auto stub = v1::PipelineService::NewStub(server.Channel());
    v1::ApplyPipelineRequest req;
    *req.mutable_pipeline() = testing::MinimalPipeline("shop");
    v1::ApplyPipelineResponse resp;
    ASSERT_TRUE(
        stub->ApplyPipeline(TestServer::Context(server.admin_token()).get(), req, &resp).ok());
  }
  std::string token = server.admin_token();
  server.Stop();
  server.Start();
  // No new bootstrap token on a data dir that has one.
  EXPECT_EQ(server.admin_token(), token);
  auto stub = v1::PipelineService::NewStub(server.Channel());
  v1::GetPipelineRequest get;
  get.set_name("shop");
  v1::Pipeline got;
  ASSERT_TRUE(stub->GetPipeline(TestServer::Context(token).get(), get, &got).ok());
  EXPECT_EQ(got.stages_size(), 2);
}

}  // namespace
}  // namespace slipway
