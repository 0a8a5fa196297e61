// What the benchmarks share: an in-process slipwayd on loopback ports with a scratch data dir
// and the no-op driver in place of `process`, applying a pipeline over gRPC, and percentiles.
#ifndef SLIPWAY_BENCH_BENCH_SERVER_H_
#define SLIPWAY_BENCH_BENCH_SERVER_H_

#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/types.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/noop_driver.h"
#include "common/clock.h"
#include "common/proto_yaml.h"
#include "common/random.h"
#include "server/server.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"

namespace slipway::bench {

// A pipeline whose stage deploys (with the no-op driver, standing in for `process`) on every
// push of main to the GitHub repository of the shared push fixtures, signed with
// "bench-secret".
inline constexpr char kPushPipeline[] = R"(
name: bench
sources: [{name: app, provider: github, repository: woodpecker-ci/woodpecker, webhook_secret: {value: bench-secret}}]
stages:
  - name: dev
    concurrency: allow
    resources: [{name: web, driver: process, process: {command: [noop]}}]
    triggers: [{git: {source: app, branches: [main]}}]
    flow: {sequential: [{ref: web, deploy: {resource: web, artifact: {version: "${trigger.sha}"}}}]}
)";

// The value at quantile `p` (0..1) of `values`, 0 when empty. Sorts a copy.
inline double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

// The whole file at `path` ("" if it cannot be read).
inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// VmRSS of process `pid` in KiB, -1 if unknown.
inline long RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Applies the pipeline in `yaml` through PipelineService with `token`; prints why not.
inline bool ApplyPipeline(const std::shared_ptr<grpc::Channel>& channel, const std::string& token,
                          const std::string& yaml) {
  v1::ApplyPipelineRequest req;
  if (absl::Status s = ParseYaml(yaml, req.mutable_pipeline()); !s.ok()) {
    std::fprintf(stderr, "pipeline: %s\n", std::string(s.message()).c_str());
    return false;
  }
  v1::ApplyPipelineResponse resp;
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + token);
  grpc::Status s = v1::PipelineService::NewStub(channel)->ApplyPipeline(&ctx, req, &resp);
  if (!s.ok()) std::fprintf(stderr, "apply: %s\n", s.error_message().c_str());
  return s.ok();
}

// slipwayd in this process. Shut down, and its data dir removed, when destroyed.
class BenchServer {
 public:
  // nullptr (after printing why) if it cannot start. `http` overrides the HTTP edge's options.
  static std::unique_ptr<BenchServer> Start(const std::string& name,
                                            const server::HttpEdgeOptions& http = {},
                                            bool audit = true) {
    auto b = std::unique_ptr<BenchServer>(new BenchServer());
    std::string dir = std::filesystem::temp_directory_path() / ("slipway-" + name + "-XXXXXX");
    b->dir_ = ::mkdtemp(dir.data());
    server::ServerOptions options;
    options.data_dir = b->dir_ + "/data";
    options.grpc_listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.driver_overrides = {{"process", &b->noop_}};
    options.http = http;
    options.audit_trail = audit;
    auto started = server::Server::Start(options, &b->clock_, &b->ids_);
    if (!started.ok()) {
      std::fprintf(stderr, "cannot start: %s\n", std::string(started.status().message()).c_str());
      return nullptr;
    }
    b->server_ = *std::move(started);
    std::getline(std::ifstream(server::AdminTokenPath(options.data_dir)), b->token_);
    b->channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(b->server_->grpc_port()),
                                      grpc::InsecureChannelCredentials());
    return b;
  }
  ~BenchServer() {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  bool Apply(const std::string& yaml) { return ApplyPipeline(channel_, token_, yaml); }
  // A context carrying the admin token.
  std::unique_ptr<grpc::ClientContext> Context() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + token_);
    return ctx;
  }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  int http_port() const { return server_->http_port(); }
  const std::string& dir() const { return dir_; }
  NoopDriver& noop() { return noop_; }

 private:
  BenchServer() = default;
  std::string dir_;
  NoopDriver noop_;
  RealClock clock_;
  SecureIdGenerator ids_;
  std::unique_ptr<server::Server> server_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace slipway::bench

#endif  // SLIPWAY_BENCH_BENCH_SERVER_H_
