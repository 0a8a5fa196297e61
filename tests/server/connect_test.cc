// The browser API: the Connect protocol on a real server's HTTP port, spoken with a real HTTP
// client, checked against what the same calls do through gRPC.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "google/rpc/error_details.pb.h"
#include "server/connect_gateway.h"
#include "server/http_edge.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"
#include "slipway/v1/release_service.grpc.pb.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/test_server.h"
#include "tests/testing/wait.h"

namespace slipway {
namespace {

using ::testing::HasSubstr;
using testing::TestServer;
using json = nlohmann::json;

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &out).ok());
  return out;
}

std::string Envelope(uint8_t flags, const std::string& data) {
  std::string out(5, '\0');
  out[0] = static_cast<char>(flags);
  const auto n = static_cast<uint32_t>(data.size());
  for (int i = 0; i < 4; ++i) out[1 + i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
  return out + data;
}

struct Frame {
  uint8_t flags;
  json body;
};

// Splits a streamed Connect body into its envelopes; fails the test on a torn one.
std::vector<Frame> Frames(const std::string& body) {
  std::vector<Frame> out;
  size_t at = 0;
  while (at + 5 <= body.size()) {
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<uint8_t>(body[at + 1 + i]);
    EXPECT_LE(at + 5 + n, body.size());
    out.push_back({static_cast<uint8_t>(body[at]), json::parse(body.substr(at + 5, n))});
    at += 5 + n;
  }
  EXPECT_EQ(at, body.size());
  return out;
}

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` as it is and reads the answer until the server closes.
std::string Exchange(int port, const std::string& request) {
  int fd = Connect(port);
  EXPECT_GE(fd, 0);
  if (fd < 0) return "";
  EXPECT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
  close(fd);
  return got;
}

// A pipeline whose dev flow needs no process and no time (the server's clock is fake).
v1::Pipeline QuickPipeline() {
  v1::Pipeline p = testing::MinimalPipeline("shop");
  auto* steps = p.mutable_stages(0)->mutable_flow()->mutable_sequential();
  steps->Clear();
  auto* node = steps->add_steps();
  node->set_ref("maybe");
  node->set_skip_if("true");
  node->mutable_deploy()->set_resource("web");
  return p;
}

class ConnectTest : public ::testing::Test {
 protected:
  httplib::Result Call(const std::string& method, const std::string& body, const std::string& token,
                       const std::string& content_type = "application/json",
                       httplib::Headers headers = {{"Connect-Protocol-Version", "1"}}) {
    httplib::Client http("127.0.0.1", server_.http_port());
    http.set_read_timeout(20, 0);
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return http.Post("/slipway.v1." + method, headers, body, content_type);
  }
  json Body(const httplib::Result& r) { return json::parse(r->body, nullptr, false); }
  void ApplyQuick() {
    v1::ApplyPipelineRequest req;
    *req.mutable_pipeline() = QuickPipeline();
    auto r = Call("PipelineService/ApplyPipeline", Json(req), server_.admin_token());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }

  TestServer server_;
};

TEST(ConnectCodeTest, EveryGrpcCodeHasConnectsNameAndHttpStatus) {
  const std::vector<std::pair<std::string, int>> want = {{"ok", 200},
                                                         {"canceled", 499},
                                                         {"unknown", 500},
                                                         {"invalid_argument", 400},
                                                         {"deadline_exceeded", 504},
                                                         {"not_found", 404},
                                                         {"already_exists", 409},
                                                         {"permission_denied", 403},
                                                         {"resource_exhausted", 429},
                                                         {"failed_precondition", 400},
                                                         {"aborted", 409},
                                                         {"out_of_range", 400},
                                                         {"unimplemented", 501},
                                                         {"internal", 500},
                                                         {"unavailable", 503},
                                                         {"data_loss", 500},
                                                         {"unauthenticated", 401}};
  for (int code = 0; code <= 16; ++code) {
    server::ConnectCode c = server::ConnectCodeOf(code);
    EXPECT_EQ(std::string(c.name), want[code].first) << code;
    EXPECT_EQ(c.http_status, want[code].second) << code;
  }
  EXPECT_EQ(std::string(server::ConnectCodeOf(17).name), "unknown");
  EXPECT_EQ(server::ConnectCodeOf(-1).http_status, 500);
}

TEST_F(ConnectTest, UnaryCallsReachTheSameServicesAsGrpc) {
  ApplyQuick();
  auto list = Call("PipelineService/ListPipelines", "{}", server_.admin_token());
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(list->get_header_value("Content-Type"), "application/json");
  json pipelines = Body(list)["pipelines"];
  ASSERT_EQ(pipelines.size(), 1u) << list->body;
  EXPECT_EQ(pipelines[0]["name"], "shop");
  // The webhook secret is write-only here too: the same redaction as on the gRPC port.
  EXPECT_THAT(list->body, ::testing::Not(HasSubstr("s3cret")));

  // What gRPC sees is what the browser wrote.
  auto stub = v1::PipelineService::NewStub(server_.Channel());
  v1::GetPipelineRequest get;
  get.set_name("shop");
  v1::Pipeline got;
  ASSERT_TRUE(stub->GetPipeline(TestServer::Context(server_.admin_token()).get(), get, &got).ok());
  EXPECT_EQ(got.stages_size(), 2);

  // The binary encoding works too.
  auto proto = Call("PipelineService/GetPipeline", get.SerializeAsString(), server_.admin_token(),
                    "application/proto");
  ASSERT_TRUE(proto);
  EXPECT_EQ(proto->status, 200);
  EXPECT_EQ(proto->get_header_value("Content-Type"), "application/proto");
  v1::Pipeline decoded;
  ASSERT_TRUE(decoded.ParseFromString(proto->body));
  EXPECT_EQ(decoded.name(), "shop");
  EXPECT_EQ(decoded.stages_size(), 2);

  // A read token reads.
  const std::string read = server_.IssueToken(v1::SCOPE_READ);
  auto as_reader = Call("PipelineService/GetPipeline", R"({"name":"shop"})", read);
  ASSERT_TRUE(as_reader);
  EXPECT_EQ(as_reader->status, 200);
  EXPECT_EQ(Body(as_reader)["name"], "shop");
}

TEST_F(ConnectTest, ErrorsAreConnectErrorsWithTheSameCodesAndDetails) {
  ApplyQuick();
  const std::string read = server_.IssueToken(v1::SCOPE_READ);

  auto anonymous = Call("PipelineService/ListPipelines", "{}", "");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(Body(anonymous)["code"], "unauthenticated");

  auto forged = Call("PipelineService/ListPipelines", "{}", "slw_" + std::string(64, '0'));
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);

  // A read token cannot change anything; the pipeline stays as it was.
  auto denied = Call("PipelineService/DeletePipeline", R"({"name":"shop"})", read);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403);
  EXPECT_EQ(Body(denied)["code"], "permission_denied");
  auto still = Call("PipelineService/GetPipeline", R"({"name":"shop"})", read);
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);

  auto missing = Call("PipelineService/GetPipeline", R"({"name":"nope"})", read);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Body(missing)["code"], "not_found");
  EXPECT_THAT(Body(missing)["message"].get<std::string>(), HasSubstr("nope"));

  // Spec problems come as google.rpc.BadRequest field violations, as on the gRPC port.
  v1::Pipeline bad = QuickPipeline();
  bad.mutable_stages(0)->mutable_resources(0)->set_driver("dokcer");
  bad.mutable_stages(1)->mutable_resources(0)->set_driver("podmn");
  v1::ApplyPipelineRequest apply;
  *apply.mutable_pipeline() = bad;
  auto invalid = Call("PipelineService/ApplyPipeline", Json(apply), server_.admin_token());
  ASSERT_TRUE(invalid);
  EXPECT_EQ(invalid->status, 400);
  json err = Body(invalid);
  EXPECT_EQ(err["code"], "invalid_argument");
  ASSERT_EQ(err["details"].size(), 1u) << invalid->body;
  EXPECT_EQ(err["details"][0]["type"], "google.rpc.BadRequest");
  std::string value = err["details"][0]["value"];
  EXPECT_EQ(value.find('='), std::string::npos) << "Connect's base64 is unpadded";
  std::string bytes;
  ASSERT_TRUE(absl::Base64Unescape(value, &bytes));
  google::rpc::BadRequest violations;
  ASSERT_TRUE(violations.ParseFromString(bytes));
  ASSERT_GE(violations.field_violations_size(), 2);
  std::vector<std::string> fields;
  for (const auto& v : violations.field_violations()) fields.push_back(v.field());
  EXPECT_THAT(fields, ::testing::ElementsAre("stages[dev].resources[web].driver",
                                             "stages[prod].resources[web].driver"));
  EXPECT_EQ(err["details"][0]["debug"]["fieldViolations"].size(),
            static_cast<size_t>(violations.field_violations_size()));

  // A held stage refuses a run with the typed reason, as a Connect trailer.
  auto hold = Call("ReleaseService/HoldStage",
                   R"({"pipeline":"shop","stage":"dev","reason":"freeze"})", server_.admin_token());
  ASSERT_TRUE(hold);
  ASSERT_EQ(hold->status, 200) << hold->body;
  auto held = Call("ReleaseService/StartRun", R"({"pipeline":"shop","stage":"dev"})",
                   server_.admin_token());
  ASSERT_TRUE(held);
  EXPECT_EQ(held->status, 400);
  EXPECT_EQ(Body(held)["code"], "failed_precondition");
  EXPECT_EQ(held->get_header_value("trailer-slipway-error-reason"), "STAGE_HELD");
}

TEST_F(ConnectTest, BadRequestsAreRefusedNamingWhatIsWrongAndChangeNothing) {
  const std::string admin = server_.admin_token();
  auto torn = Call("PipelineService/ListPipelines", "{", admin);
  ASSERT_TRUE(torn);
  EXPECT_EQ(torn->status, 400);
  EXPECT_EQ(Body(torn)["code"], "invalid_argument");
  EXPECT_THAT(Body(torn)["message"].get<std::string>(),
              HasSubstr("slipway.v1.ListPipelinesRequest"));

  auto unknown_field = Call("PipelineService/ListPipelines", R"({"bogus": 1})", admin);
  ASSERT_TRUE(unknown_field);
  EXPECT_EQ(unknown_field->status, 400);

  auto bad_timeout = Call("PipelineService/ListPipelines", "{}", admin, "application/json",
                          {{"Connect-Timeout-Ms", "soon"}});
  ASSERT_TRUE(bad_timeout);
  EXPECT_EQ(bad_timeout->status, 400);
  EXPECT_THAT(Body(bad_timeout)["message"].get<std::string>(), HasSubstr("Connect-Timeout-Ms"));

  auto version = Call("PipelineService/ListPipelines", "{}", admin, "application/json",
                      {{"Connect-Protocol-Version", "2"}});
  ASSERT_TRUE(version);
  EXPECT_EQ(version->status, 400);

  auto text = Call("PipelineService/ListPipelines", "{}", admin, "text/plain");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 415);
  EXPECT_THAT(text->get_header_value("Accept-Post"), HasSubstr("application/json"));

  // A streaming method wants the enveloped content types, a unary one the plain ones.
  auto wrong_kind = Call("ReleaseService/WatchRun", "{}", admin, "application/json");
  ASSERT_TRUE(wrong_kind);
  EXPECT_EQ(wrong_kind->status, 415);

  auto no_method = Call("PipelineService/Nope", "{}", admin);
  ASSERT_TRUE(no_method);
  EXPECT_EQ(no_method->status, 404);
  auto no_service = Call("ServerReflection/ServerReflectionInfo", "{}", admin);
  ASSERT_TRUE(no_service);
  EXPECT_EQ(no_service->status, 404);

  httplib::Client http("127.0.0.1", server_.http_port());
  auto get = http.Get("/slipway.v1.PipelineService/ListPipelines");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);

  // Over 4 MiB: refused from the head, before any of the body is sent, and nothing is created.
  const std::string head =
      "POST /slipway.v1.PipelineService/ApplyPipeline HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nAuthorization: Bearer " +
      admin + "\r\nContent-Length: " + std::to_string(5 << 20) + "\r\n\r\n";
  const std::string answer = Exchange(server_.http_port(), head);
  EXPECT_THAT(answer, HasSubstr("HTTP/1.1 429"));
  EXPECT_THAT(answer, HasSubstr("\"code\":\"resource_exhausted\""));
  EXPECT_THAT(answer, HasSubstr("4194304"));
  auto list = Call("PipelineService/ListPipelines", "{}", admin);
  ASSERT_TRUE(list);
  EXPECT_FALSE(Body(list).contains("pipelines")) << list->body;
}

TEST_F(ConnectTest, WatchRunStreamsEventsAndResumesAfterASequenceNumber) {
  ApplyQuick();
  const std::string admin = server_.admin_token();
  auto started = Call("ReleaseService/StartRun", R"({"pipeline":"shop","stage":"dev"})", admin);
  ASSERT_TRUE(started);
  ASSERT_EQ(started->status, 200) << started->body;
  const std::string id = Body(started)["id"];

  auto watch = Call("ReleaseService/WatchRun", Envelope(0, json({{"id", id}}).dump()), admin,
                    "application/connect+json");
  ASSERT_TRUE(watch);
  EXPECT_EQ(watch->status, 200);
  EXPECT_EQ(watch->get_header_value("Content-Type"), "application/connect+json");
  std::vector<Frame> frames = Frames(watch->body);
  ASSERT_GE(frames.size(), 5u) << watch->body;
  EXPECT_EQ(frames.back().flags, 0x02);
  EXPECT_FALSE(frames.back().body.contains("error")) << frames.back().body;
  for (size_t i = 0; i + 1 < frames.size(); ++i) {
    EXPECT_EQ(frames[i].flags, 0);
    // int64 is a string in protobuf's JSON.
    EXPECT_EQ(frames[i].body["sequence"], std::to_string(i + 1));
  }
  EXPECT_EQ(frames[frames.size() - 2].body["state"], "RUN_STATE_SUCCEEDED");

  auto rest = Call("ReleaseService/WatchRun",
                   Envelope(0, json({{"id", id}, {"afterSequence", "2"}}).dump()), admin,
                   "application/connect+json");
  ASSERT_TRUE(rest);
  std::vector<Frame> resumed = Frames(rest->body);
  ASSERT_EQ(resumed.size(), frames.size() - 2);
  EXPECT_EQ(resumed.front().body["sequence"], "3");

  // Errors end the stream, with HTTP 200 and the error in the end-of-stream message.
  auto unknown = Call("ReleaseService/WatchRun", Envelope(0, R"({"id":"run_nope"})"), admin,
                      "application/connect+json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 200);
  std::vector<Frame> end = Frames(unknown->body);
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0].flags, 0x02);
  EXPECT_EQ(end[0].body["error"]["code"], "not_found");

  auto anonymous = Call("ReleaseService/WatchRun", Envelope(0, json({{"id", id}}).dump()), "",
                        "application/connect+json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(Frames(anonymous->body).back().body["error"]["code"], "unauthenticated");

  auto torn = Call("ReleaseService/WatchRun", std::string("\0\0\0\0\x09{}", 7), admin,
                   "application/connect+json");
  ASSERT_TRUE(torn);
  EXPECT_EQ(Frames(torn->body).back().body["error"]["code"], "invalid_argument");
  auto compressed =
      Call("ReleaseService/WatchRun", Envelope(1, "{}"), admin, "application/connect+json");
  ASSERT_TRUE(compressed);
  EXPECT_EQ(Frames(compressed->body).back().body["error"]["code"], "unimplemented");
}

TEST_F(ConnectTest, TheDashboardIsServedWithAStrictContentSecurityPolicy) {
  httplib::Client http("127.0.0.1", server_.http_port());
  auto page = http.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->get_header_value("Content-Type"), HasSubstr("text/html"));
  const std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_THAT(csp, HasSubstr("default-src 'none'"));
  EXPECT_THAT(csp, HasSubstr("script-src 'self'"));
  EXPECT_THAT(csp, ::testing::Not(HasSubstr("unsafe-inline")));
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  // No inline script: the page only loads its own file.
  EXPECT_THAT(page->body, HasSubstr("src=\"/assets/app.js\""));
  EXPECT_EQ(page->body.find("<script>"), std::string::npos);
  for (const char* file : {"/assets/app.js", "/assets/app.css"}) {
    auto r = http.Get(file);
    ASSERT_TRUE(r) << file;
    EXPECT_EQ(r->status, 200) << file;
    EXPECT_GT(r->body.size(), 1000u) << file;
  }
  auto missing = http.Get("/assets/nope.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto post = http.Post("/", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

// The gateway on its own edge, with a stream limit of one and a quick check of its clients.
class ConnectStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway_ = std::make_unique<server::ConnectGateway>(
        server_.Channel(),
        server::ConnectGatewayOptions{.max_streams = 1, .stream_check = absl::Milliseconds(50)});
    auto edge = server::HttpEdge::Start(
        {}, [this](const server::HttpRequest& head) { return gateway_->Head(head); },
        [this](server::HttpRequest& request) { return gateway_->Handle(request); });
    ASSERT_TRUE(edge.ok()) << edge.status();
    edge_ = *std::move(edge);
  }
  void TearDown() override { edge_->Stop(absl::Seconds(5)); }

  TestServer server_;
  std::unique_ptr<server::ConnectGateway> gateway_;
  std::unique_ptr<server::HttpEdge> edge_;
};

TEST_F(ConnectStreamTest, AStreamEndsWhenItsClientGoesAndTheLimitIsNamed) {
  auto stub = v1::PipelineService::NewStub(server_.Channel());
  v1::ApplyPipelineRequest apply;
  *apply.mutable_pipeline() = testing::MinimalPipeline("shop");
  v1::ApplyPipelineResponse applied;
  ASSERT_TRUE(
      stub->ApplyPipeline(TestServer::Context(server_.admin_token()).get(), apply, &applied).ok());
  // prod waits for an approval: its run does not end by itself.
  auto releases = v1::ReleaseService::NewStub(server_.Channel());
  v1::StartRunRequest start;
  start.set_pipeline("shop");
  start.set_stage("prod");
  v1::Run run;
  ASSERT_TRUE(
      releases->StartRun(TestServer::Context(server_.admin_token()).get(), start, &run).ok());

  // A raw client: sends the request, reads the first event, then goes away.
  int fd = Connect(edge_->port());
  ASSERT_GE(fd, 0);
  const std::string body = Envelope(0, json({{"id", run.id()}}).dump());
  const std::string request =
      "POST /slipway.v1.ReleaseService/WatchRun HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/connect+json\r\nAuthorization: Bearer " +
      server_.admin_token() + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
      body;
  ASSERT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string got;
  char buf[4096];
  while (got.find("RUN_STATE") == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_THAT(got, HasSubstr("Transfer-Encoding: chunked"));
  EXPECT_EQ(gateway_->open_streams(), 1);

  // While it is open, a second stream is refused by name.
  httplib::Client http("127.0.0.1", edge_->port());
  auto second = http.Post("/slipway.v1.ReleaseService/WatchRun",
                          {{"Authorization", "Bearer " + server_.admin_token()}}, body,
                          "application/connect+json");
  ASSERT_TRUE(second);
  auto frames = Frames(second->body);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].body["error"]["code"], "resource_exhausted");
  EXPECT_THAT(frames[0].body["error"]["message"].get<std::string>(), HasSubstr("1 streams"));

  close(fd);
  EXPECT_TRUE(testing::WaitUntil([&] { return gateway_->open_streams() == 0; }));
}

}  // namespace
}  // namespace slipway
