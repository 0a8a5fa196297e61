// The HTTP port against hostile clients, on the real server at 127.0.0.1:0 through raw sockets:
// slow heads, endless chunked bodies, compressed bodies, lying Content-Lengths, huge header
// counts, invalid UTF-8 and connection floods. Each case asserts its bound (status, connection
// closed, memory held by the server) and that a valid signed delivery sent meanwhile is still
// answered.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/proto_yaml.h"
#include "common/random.h"
#include "common/utf8.h"
#include "slipway/v1/delivery_service.grpc.pb.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"
#include "slipway/v1/release_service.grpc.pb.h"
#include "storage/fault_injection.h"
#include "tests/testing/test_server.h"
#include "tests/testing/wait.h"
#include "tests/testing/webhook_fixtures.h"

namespace slipway {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::TestServer;

constexpr char kSecret[] = "edge-secret";
constexpr int64_t kMaxBody = 1 << 20;

// A client socket from `source` (any 127.x.y.z address) to the server, read and written
// directly so that a test can send what no HTTP library would.
class Raw {
 public:
  Raw(int port, const std::string& source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &local.sin_addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Raw() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool Readable(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) > 0;
  }
  // Reads until the server closes the connection or `timeout` passes; `closed` says which.
  std::string ReadUntilClosed(std::chrono::milliseconds timeout, bool* closed) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    *closed = false;
    while (std::chrono::steady_clock::now() < deadline) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (!Readable(std::max(left, 1))) continue;
      char buf[16384];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        *closed = true;
        return out;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // True once the server has closed the connection (EOF or reset), within `timeout`.
  bool ClosedWithin(std::chrono::milliseconds timeout) {
    bool closed = false;
    ReadUntilClosed(timeout, &closed);
    return closed;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class HttpEdgeTest : public ::testing::Test {
 public:
  static server::ServerOptions Options(const std::string& vfs = "") {
    server::ServerOptions o;
    o.max_webhook_bytes = kMaxBody;
    o.http.head_timeout = absl::Seconds(1);
    o.http.idle_timeout = absl::Seconds(1);
    o.http.body_timeout = absl::Seconds(3);
    o.http.max_headers = 100;
    o.http.max_connections_per_client = 8;
    o.sqlite_vfs = vfs;
    return o;
  }

  static void Apply(TestServer& server) {
    const std::string yaml = std::string(R"(name: edge
sources:
  - {name: app, provider: github, repository: woodpecker-ci/woodpecker, webhook_secret: {value: )") +
                             kSecret + R"(}}
stages:
  - name: ci
    concurrency: allow
    resources: [{name: web, driver: process, process: {command: [web]}}]
    triggers: [{git: {source: app, events: [push]}}]
    flow: {sequential: [{ref: web, skip_if: "true", deploy: {resource: web}}]}
)";
    v1::ApplyPipelineRequest req;
    ASSERT_TRUE(ParseYaml(yaml, req.mutable_pipeline()).ok());
    v1::ApplyPipelineResponse resp;
    auto stub = v1::PipelineService::NewStub(server.Channel());
    auto s = stub->ApplyPipeline(TestServer::Context(server.admin_token()).get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

 protected:
  void SetUp() override { Apply(*server_); }

  // A valid signed push delivery on a new connection; its status, or -1 if not answered
  // within 5 s.
  int SignedDelivery(const std::string& id, TestServer* server = nullptr) {
    if (server == nullptr) server = server_.get();
    const std::string body = testing::WebhookFixture("github/push-branch.json");
    httplib::Client http("127.0.0.1", server->http_port());
    http.set_read_timeout(5, 0);
    http.set_connection_timeout(5, 0);
    httplib::Headers h = {{"X-GitHub-Event", "push"},
                          {"X-GitHub-Delivery", id},
                          {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(kSecret, body)}};
    auto res = http.Post("/hooks/github", h, body, "application/json");
    last_body_ = res ? res->body : "";
    last_retry_after_ = res ? res->get_header_value("Retry-After") : "";
    return res ? res->status : -1;
  }

  int Healthz() {
    httplib::Client http("127.0.0.1", server_->http_port());
    http.set_read_timeout(5, 0);
    auto res = http.Get("/healthz");
    return res ? res->status : -1;
  }

  std::vector<v1::Delivery> Deliveries(grpc::Status* status = nullptr) {
    auto stub = v1::DeliveryService::NewStub(server_->Channel());
    v1::ListDeliveriesRequest req;
    req.set_page_size(100);
    v1::ListDeliveriesResponse resp;
    grpc::Status s = stub->ListDeliveries(TestServer::Context(server_->admin_token()).get(), req,
                                          &resp);
    if (status != nullptr) *status = s;
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.deliveries().begin(), resp.deliveries().end()};
  }

  int64_t Rejected(const std::string& reason) {
    return server_->server().http_stats().rejected[reason];
  }

  std::unique_ptr<TestServer> server_ = std::make_unique<TestServer>(Options());
  std::string last_body_;
  std::string last_retry_after_;
};

TEST_F(HttpEdgeTest, SlowHeadsAreCutAtTheHeadDeadlineWhileDeliveriesAndHealthAreAnswered) {
  // 40 clients from 40 addresses, each dripping a head that never ends, one byte every 100 ms.
  constexpr int kSlow = 40;
  std::vector<std::unique_ptr<Raw>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<Raw>(server_->http_port(), "127.0.1." + std::to_string(i + 1)));
    ASSERT_TRUE(slow.back()->connected());
  }
  std::atomic<bool> stop{false};
  std::thread drip([&] {
    const std::string head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Padding: ";
    for (size_t k = 0; !stop && k < 100; ++k) {
      for (auto& c : slow) c->Send(std::string(1, k < head.size() ? head[k] : 'a'));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the drip itself
    }
  });
  EXPECT_EQ(SignedDelivery("behind-slow-heads"), 200) << last_body_;
  EXPECT_EQ(Healthz(), 200);
  // Each slow client is cut once its head has taken longer than the 1 s deadline.
  int closed = 0;
  for (auto& c : slow) closed += c->ClosedWithin(std::chrono::seconds(5)) ? 1 : 0;
  stop = true;
  drip.join();
  EXPECT_EQ(closed, kSlow);
  // The count follows the close (the deadline closes the socket, then the read reports it).
  EXPECT_TRUE(testing::WaitUntil([&] { return Rejected("head_timeout") >= kSlow; }))
      << Rejected("head_timeout");
}

TEST_F(HttpEdgeTest, AnEndlessChunkedBodyIsCutAtTheBodyLimitWithBoundedMemory) {
  Raw c(server_->http_port());
  ASSERT_TRUE(c.Send("POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
  std::string answer;
  size_t sent = 0;
  // Up to 64 MiB, stopping as soon as the server answers or stops reading.
  while (sent < (64u << 20)) {
    if (c.Readable(0)) break;
    if (!c.Send(chunk)) break;
    sent += chunk.size();
  }
  bool closed = false;
  answer = c.ReadUntilClosed(std::chrono::seconds(5), &closed);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 413")) << "after " << sent << " bytes";
  EXPECT_TRUE(closed);
  EXPECT_LT(sent, 8u << 20);
  // What the server held: the body up to its limit, and the head buffer.
  auto stats = server_->server().http_stats();
  EXPECT_LE(stats.peak_buffered_bytes, kMaxBody + (256 << 10));
  EXPECT_GE(Rejected("body_too_large"), 1);
  EXPECT_EQ(SignedDelivery("after-endless-chunks"), 200) << last_body_;
}

TEST_F(HttpEdgeTest, ACompressedBodyIsRefusedBeforeItIsRead) {
  // A gzip bomb's head: 199 KB that would inflate to 200 MB. Refused from the head alone.
  Raw c(server_->http_port());
  ASSERT_TRUE(c.Send("POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
                     "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
                     "Content-Length: 199000\r\n\r\n\x1f\x8b\x08"));
  bool closed = false;
  std::string answer = c.ReadUntilClosed(std::chrono::seconds(5), &closed);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 415"));
  EXPECT_THAT(answer, HasSubstr("Content-Encoding"));
  EXPECT_TRUE(closed);
  EXPECT_LT(server_->server().http_stats().peak_buffered_bytes, 199000);
  EXPECT_EQ(Rejected("content_encoding"), 1);
  EXPECT_EQ(SignedDelivery("after-gzip"), 200) << last_body_;
}

TEST_F(HttpEdgeTest, ATwoGigabyteContentLengthIsRefusedAtOnceAndNothingIsReserved) {
  Raw c(server_->http_port());
  ASSERT_TRUE(c.Send("POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
                     "Content-Type: application/json\r\nContent-Length: 2000000000\r\n\r\n{}"));
  bool closed = false;
  std::string answer = c.ReadUntilClosed(std::chrono::seconds(5), &closed);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 413"));
  EXPECT_TRUE(closed);
  EXPECT_LT(server_->server().http_stats().peak_buffered_bytes, 1 << 20);
  EXPECT_EQ(SignedDelivery("after-2gb"), 200) << last_body_;
}

TEST_F(HttpEdgeTest, HugeHeadersAreRefusedAndStoreNothing) {
  const size_t before = Deliveries().size();
  {
    // 10,000 headers of 500 bytes: past the head size long before the count.
    Raw c(server_->http_port());
    std::string head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n";
    bool sent_all = c.Send(head);
    for (int i = 0; sent_all && i < 10000 && !c.Readable(0); ++i) {
      sent_all = c.Send("X-Pad-" + std::to_string(i) + ": " + std::string(490, 'p') + "\r\n");
    }
    bool closed = false;
    std::string answer = c.ReadUntilClosed(std::chrono::seconds(5), &closed);
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 431"));
    EXPECT_TRUE(closed);
  }
  {
    // 150 small headers: within the size, past the count.
    Raw c(server_->http_port());
    std::string head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n";
    for (int i = 0; i < 150; ++i) head += "X-H" + std::to_string(i) + ": v\r\n";
    head += "Content-Length: 2\r\n\r\n{}";
    ASSERT_TRUE(c.Send(head));
    bool closed = false;
    std::string answer = c.ReadUntilClosed(std::chrono::seconds(5), &closed);
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 431"));
    EXPECT_THAT(answer, HasSubstr("header fields"));
  }
  EXPECT_EQ(Rejected("head_too_large"), 1);
  EXPECT_EQ(Rejected("too_many_headers"), 1);
  EXPECT_EQ(Deliveries().size(), before);
  EXPECT_EQ(SignedDelivery("after-huge-heads"), 200) << last_body_;
}

TEST_F(HttpEdgeTest, InvalidUtf8InHeadersAndBodyIsStoredSanitizedAndListingStillWorks) {
  const std::string body = testing::WebhookFixture("github/push-branch.json");
  {
    // Unsigned, for a bound repository, with a User-Agent that is not UTF-8.
    Raw c(server_->http_port());
    ASSERT_TRUE(c.Send("POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
                       "X-GitHub-Delivery: bad-\xff\xfe\r\nUser-Agent: evil\xff\xfe\xc0\xaf\r\n"
                       "Content-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body));
    bool closed = false;
    std::string answer = c.ReadUntilClosed(std::chrono::seconds(5), &closed);
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 401"));
  }
  {
    // A body that is not UTF-8.
    std::string bad = "{\"repository\": {\"full_name\": \"woodpecker-ci/\xff\xfe\"}}";
    Raw c(server_->http_port());
    ASSERT_TRUE(c.Send("POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
                       "Content-Type: application/json\r\nContent-Length: " +
                       std::to_string(bad.size()) + "\r\nConnection: close\r\n\r\n" + bad));
    bool closed = false;
    std::string answer = c.ReadUntilClosed(std::chrono::seconds(5), &closed);
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 400"));
  }
  grpc::Status status;
  auto all = Deliveries(&status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(all.size(), 2u);
  const v1::Delivery& unsigned_one = all[1];  // newest first
  EXPECT_EQ(unsigned_one.status(), 401);
  EXPECT_TRUE(IsValidUtf8(unsigned_one.headers().at("user-agent")));
  EXPECT_THAT(unsigned_one.headers().at("user-agent"), StartsWith("evil\xEF\xBF\xBD"));
  // No claims from an unverified body: only what found the binding.
  EXPECT_EQ(unsigned_one.event().repository(), "woodpecker-ci/woodpecker");
  EXPECT_EQ(unsigned_one.event().branch(), "");
  EXPECT_EQ(unsigned_one.event().sha(), "");
  EXPECT_EQ(unsigned_one.event().commit_messages_size(), 0);
  EXPECT_EQ(SignedDelivery("after-bad-utf8"), 200) << last_body_;
}

TEST_F(HttpEdgeTest, AFloodOfConnectionsFromOneAddressIsCappedPerClient) {
  std::vector<std::unique_ptr<Raw>> flood;
  for (int i = 0; i < 40; ++i) {
    flood.push_back(std::make_unique<Raw>(server_->http_port(), "127.0.0.9"));
  }
  // The server closes every connection past the client's 8 at once; the 8 it keeps are cut
  // only by the head deadline (1 s), which is not reached here.
  int closed = 0;
  for (auto& c : flood) closed += c->ClosedWithin(std::chrono::milliseconds(20)) ? 1 : 0;
  EXPECT_GE(closed, 32);
  EXPECT_GE(Rejected("client_connection_limit"), 32);
  EXPECT_LE(server_->server().http_stats().peak_connections, 8 + 2);
  // Another address is served meanwhile.
  EXPECT_EQ(SignedDelivery("beside-the-flood"), 200) << last_body_;
}

TEST_F(HttpEdgeTest, AFloodOfRejectedDeliveriesFromOneClientIsCountedNotStored) {
  const std::string body = testing::WebhookFixture("github/push-branch.json");
  httplib::Client http("127.0.0.1", server_->http_port());
  for (int i = 0; i < 100; ++i) {
    auto res = http.Post("/hooks/github",
                         {{"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", "u" + std::to_string(i)}},
                         body, "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 401);
  }
  // The first 60 (the burst) are recorded; the rest only counted.
  const size_t recorded = Deliveries().size();
  EXPECT_GE(recorded, 60u);
  EXPECT_LT(recorded, 70u);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("slipway_webhook_rejections_unrecorded_total " +
                                       std::to_string(100 - recorded)));
  // A signed delivery from the same client is not held back by it.
  EXPECT_EQ(SignedDelivery("after-the-flood"), 200) << last_body_;
  EXPECT_EQ(Deliveries().size(), recorded + 1);
}

TEST_F(HttpEdgeTest, ABodyThatArrivesTooSlowlyIsCutAtTheBodyDeadline) {
  Raw c(server_->http_port());
  ASSERT_TRUE(c.Send("POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
                     "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":"));
  // Nothing more is sent: the body deadline (3 s here) closes the connection.
  EXPECT_TRUE(c.ClosedWithin(std::chrono::seconds(8)));
  EXPECT_TRUE(testing::WaitUntil([&] { return Rejected("body_timeout") == 1; }));
  EXPECT_EQ(SignedDelivery("after-slow-body"), 200) << last_body_;
}

TEST_F(HttpEdgeTest, AClientThatExpectsContinueGetsItBeforeSendingItsBody) {
  const std::string body = testing::WebhookFixture("github/push-branch.json");
  Raw c(server_->http_port());
  ASSERT_TRUE(c.Send("POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
                     "X-GitHub-Delivery: expects-continue\r\nX-Hub-Signature-256: sha256=" +
                     HmacSha256Hex(kSecret, body) +
                     "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                     "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n"));
  ASSERT_TRUE(c.Readable(5000));
  char buf[64];
  ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  EXPECT_THAT(std::string(buf, static_cast<size_t>(n)), StartsWith("HTTP/1.1 100 Continue"));
  ASSERT_TRUE(c.Send(body));
  // The answer, then the close after the 1 s keep-alive idle timeout.
  bool closed = false;
  std::string answer = c.ReadUntilClosed(std::chrono::seconds(5), &closed);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200")) << answer;
}

TEST(HttpEdgeLimitTest, ConnectionsPastTheTotalAreClosedAtAccept) {
  server::ServerOptions o = HttpEdgeTest::Options();
  o.http.max_connections = 6;
  TestServer server(o);
  std::vector<std::unique_ptr<Raw>> conns;
  for (int i = 0; i < 12; ++i) {
    conns.push_back(std::make_unique<Raw>(server.http_port(), "127.0.3." + std::to_string(i + 1)));
  }
  int closed = 0;
  for (auto& c : conns) closed += c->ClosedWithin(std::chrono::milliseconds(20)) ? 1 : 0;
  EXPECT_GE(closed, 6);
  EXPECT_GE(server.server().http_stats().rejected["connection_limit"], 6);
  EXPECT_LE(server.server().http_stats().peak_connections, 6);
}

TEST_F(HttpEdgeTest, IdleKeepAliveConnectionsAreClosedAfterTheIdleTimeout) {
  Raw c(server_->http_port());
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  bool closed = false;
  std::string answer = c.ReadUntilClosed(std::chrono::seconds(5), &closed);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200"));
  EXPECT_TRUE(closed);
  EXPECT_TRUE(testing::WaitUntil([&] { return Rejected("idle_timeout") == 1; }));
}

TEST_F(HttpEdgeTest, UnknownPathsAndWrongMethodsAreRefusedFromTheHead) {
  Raw c(server_->http_port());
  // A body is announced but never sent: the refusal does not wait for it.
  ASSERT_TRUE(c.Send("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"));
  bool closed = false;
  EXPECT_THAT(c.ReadUntilClosed(std::chrono::seconds(5), &closed), StartsWith("HTTP/1.1 404"));
  Raw g(server_->http_port());
  ASSERT_TRUE(g.Send("GET /hooks/github HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_THAT(g.ReadUntilClosed(std::chrono::seconds(5), &closed), StartsWith("HTTP/1.1 405"));
}

TEST(HttpEdgeStoreTest, AWebhookGets503AndReadyzIsNotReadyWhileTheStoreCannotWrite) {
  storage::FaultInjectingVfs vfs("edge-faults");
  auto server = std::make_unique<TestServer>(HttpEdgeTest::Options(vfs.name()));
  HttpEdgeTest::Apply(*server);
  auto readyz = [&] {
    httplib::Client http("127.0.0.1", server->http_port());
    auto res = http.Get("/readyz");
    return res ? res->status : -1;
  };
  ASSERT_EQ(readyz(), 200);
  const std::string body = testing::WebhookFixture("github/push-branch.json");
  httplib::Headers h = {{"X-GitHub-Event", "push"},
                        {"X-GitHub-Delivery", "while-disk-full"},
                        {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(kSecret, body)}};
  vfs.FailWrites(true);
  {
    httplib::Client http("127.0.0.1", server->http_port());
    auto res = http.Post("/hooks/github", h, body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503) << res->body;
    EXPECT_EQ(res->get_header_value("Retry-After"), "30");
    auto answer = nlohmann::json::parse(res->body);
    EXPECT_TRUE(answer["runs"].empty()) << res->body;
  }
  EXPECT_EQ(readyz(), 503);
  vfs.FailWrites(false);
  EXPECT_EQ(readyz(), 200);
  {
    // The host's retry is taken now, and starts the run once.
    httplib::Client http("127.0.0.1", server->http_port());
    auto res = http.Post("/hooks/github", h, body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(nlohmann::json::parse(res->body)["runs"].size(), 1u) << res->body;
  }
  server.reset();
}

}  // namespace
}  // namespace slipway
