// A real slipwayd server in-process on 127.0.0.1:0 with a temp data dir, plus channels and
// tokens of every scope for calling it through the generated stubs.
#ifndef SLIPWAY_TESTS_TESTING_TEST_SERVER_H_
#define SLIPWAY_TESTS_TESTING_TEST_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "common/random.h"
#include "server/server.h"
#include "slipway/v1/admin_service.grpc.pb.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace slipway::testing {

class TestServer {
 public:
  // Starts the server; aborts the test binary if it cannot start.
  explicit TestServer(server::ServerOptions options = {}) {
    options.data_dir = dir_.File("data");
    options.grpc_listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options_ = options;
    Start();
  }

  void Start() {
    auto s = server::Server::Start(options_, &clock_, &ids_);
    if (!s.ok()) {
      fprintf(stderr, "test server failed to start: %s\n", std::string(s.status().message()).c_str());
      std::abort();
    }
    server_ = *std::move(s);
    std::ifstream in(server::AdminTokenPath(options_.data_dir));
    std::getline(in, admin_token_);
  }
  void Stop() { server_.reset(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(server_->grpc_port()); }
  int http_port() const { return server_->http_port(); }
  const std::string& data_dir() const { return options_.data_dir; }
  server::Server& server() { return *server_; }
  const std::string& admin_token() const { return admin_token_; }

  std::shared_ptr<grpc::Channel> Channel() {
    return grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  }

  // A context carrying `token` (none if empty) and a 10 s deadline.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  // Issues a token with `scope` through the admin API.
  std::string IssueToken(v1::Scope scope) {
    auto stub = v1::AdminService::NewStub(Channel());
    v1::CreateTokenRequest req;
    req.set_scope(scope);
    req.set_description("test");
    v1::CreateTokenResponse resp;
    grpc::Status s = stub->CreateToken(Context(admin_token_).get(), req, &resp);
    if (!s.ok()) std::abort();
    return resp.secret();
  }

 private:
  TempDir dir_;
  FakeClock clock_;
  SecureIdGenerator ids_;
  server::ServerOptions options_;
  std::unique_ptr<server::Server> server_;
  std::string admin_token_;
};

}  // namespace slipway::testing

#endif  // SLIPWAY_TESTS_TESTING_TEST_SERVER_H_
