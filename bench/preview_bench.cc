// Preview environment cycles against a real slipwayd (its own process, real process driver,
// the example hello-server as the trivial HTTP service): signed GitHub pull_request deliveries
// (the shared fixture with its number and head commit set per preview) open a preview, the
// client waits for READY, closes it, and waits for DELETED. Then N previews are opened and
// kept live at once, and slipwayd's resident memory is read from /proc (its children, the
// services, are separate processes and not counted).
// With --driver container, each preview is a container made through the Docker Engine API at
// --container-host from --image (bench/container_preview_bench.sh starts a private Podman API
// service, builds the image and measures `podman run` plus waiting for health beside it).
//   preview_bench --fixture F [--slipwayd PATH] [--hello-server PATH] [--cycles 1000]
//                 [--in-flight 16] [--live 1000]
//                 [--driver process|container --container-host unix://… --image REF]
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench/bench_server.h"
#include "common/proto_yaml.h"
#include "common/random.h"
#include "deploy/subprocess.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"
#include "slipway/v1/preview.grpc.pb.h"

namespace {

using slipway::bench::ReadAll;
using slipway::bench::RssKb;

using Clock = std::chrono::steady_clock;
constexpr char kSecret[] = "bench-preview-secret";

class Client {
 public:
  Client(int http_port, const std::string& grpc, const std::string& token,
         const nlohmann::json& fixture)
      : http_port_(http_port), token_(token), fixture_(fixture) {
    channel_ = grpc::CreateChannel(grpc, grpc::InsecureChannelCredentials());
  }

  bool Send(int number, const std::string& action, const std::string& sha) {
    nlohmann::json body = fixture_;
    body["action"] = action;
    body["number"] = number;
    body["pull_request"]["number"] = number;
    body["pull_request"]["head"]["sha"] = sha;
    body["pull_request"]["head"]["ref"] = "bench/" + std::to_string(number);
    std::string text = body.dump();
    thread_local httplib::Client http("127.0.0.1", http_port_);
    http.set_keep_alive(true);
    httplib::Headers h = {
        {"X-GitHub-Event", "pull_request"},
        {"X-GitHub-Delivery", action + "-" + std::to_string(number) + "-" + sha},
        {"X-Hub-Signature-256", "sha256=" + slipway::HmacSha256Hex(kSecret, text)}};
    auto res = http.Post("/hooks/github", h, text, "application/json");
    return res && res->status == 200;
  }

  slipway::v1::PreviewState State(const std::string& name) {
    thread_local auto stub = slipway::v1::PreviewService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token_);
    slipway::v1::GetPreviewRequest req;
    req.set_name(name);
    slipway::v1::Preview p;
    if (!stub->GetPreview(&ctx, req, &p).ok()) return slipway::v1::PREVIEW_STATE_UNSPECIFIED;
    return p.state();
  }

  // Polls until `name` is in `want` (true) or failed / 120 s passed (false).
  bool WaitFor(const std::string& name, slipway::v1::PreviewState want) {
    auto give_up = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < give_up) {
      auto s = State(name);
      if (s == want) return true;
      if (s == slipway::v1::PREVIEW_STATE_FAILED ||
          s == slipway::v1::PREVIEW_STATE_TEARDOWN_FAILED) {
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  int CountIn(slipway::v1::PreviewState want) {
    auto stub = slipway::v1::PreviewService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token_);
    slipway::v1::ListPreviewsResponse resp;
    if (!stub->ListPreviews(&ctx, {}, &resp).ok()) return -1;
    return static_cast<int>(std::count_if(resp.previews().begin(), resp.previews().end(),
                                          [&](const auto& p) { return p.state() == want; }));
  }

  std::shared_ptr<grpc::Channel> channel() { return channel_; }

 private:
  int http_port_;
  std::string token_;
  nlohmann::json fixture_;
  std::shared_ptr<grpc::Channel> channel_;
};

using slipway::bench::Percentile;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"preview_bench"};
  std::string fixture, slipwayd = SLIPWAYD_PATH, hello = HELLO_SERVER_PATH;
  int cycles = 1000, in_flight = 16, live = 1000;
  std::string driver = "process", container_host, image;
  app.add_option("--fixture", fixture, "github/pull_request-opened.json")->required();
  app.add_option("--slipwayd", slipwayd);
  app.add_option("--hello-server", hello);
  app.add_option("--cycles", cycles);
  app.add_option("--in-flight", in_flight);
  app.add_option("--live", live);
  app.add_option("--driver", driver, "process or container");
  app.add_option("--container-host", container_host, "Engine socket for --driver container");
  app.add_option("--image", image, "Image for --driver container (busybox httpd on 8080)");
  CLI11_PARSE(app, argc, argv);
  nlohmann::json base = nlohmann::json::parse(ReadAll(fixture));

  std::string dir = std::filesystem::temp_directory_path() / "slipway-preview-bench-XXXXXX";
  dir = ::mkdtemp(dir.data());
  std::vector<std::string> command = {
      slipwayd,      "--data-dir",    dir + "/data", "--grpc-listen",
      "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--preview-reconcile-interval",
      "0s"};
  if (driver == "container") {
    if (container_host.empty() || image.empty()) {
      std::fprintf(stderr, "--driver container needs --container-host and --image\n");
      return 2;
    }
    command.insert(command.end(), {"--container-host", container_host});
  }
  slipway::deploy::SpawnOptions spawn{command, slipway::deploy::BaseEnvironment(), dir,
                                      dir + "/slipwayd.log"};
  auto daemon = slipway::deploy::Spawn(spawn);
  if (!daemon.ok()) {
    std::fprintf(stderr, "cannot start slipwayd: %s\n",
                 std::string(daemon.status().message()).c_str());
    return 1;
  }
  nlohmann::json endpoints;
  for (int i = 0; i < 200 && endpoints.is_null(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::string text = ReadAll(dir + "/data/endpoints.json");
    if (!text.empty()) endpoints = nlohmann::json::parse(text, nullptr, false);
  }
  if (endpoints.is_null() || endpoints.is_discarded()) return 1;
  std::string token = ReadAll(dir + "/data/admin.token");
  while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
  std::string http_addr = endpoints["http"];
  int http_port = std::stoi(http_addr.substr(http_addr.rfind(':') + 1));
  Client client(http_port, endpoints["grpc"], token, base);
  std::string yaml = R"(
name: bench
sources: [{name: gh, provider: github, repository: Codertocat/Hello-World, webhook_secret: {value: bench-preview-secret}}]
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [HELLO]}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}]}
preview_blueprints:
  - name: pr
    triggers: [{pull_request: {source: gh}}]
    resources:
      - name: web
        driver: process
        process: {command: [HELLO, --version, "${trigger.sha}"], health: {http_path: /version}}
)";
  if (driver == "container") {
    yaml = R"(
name: bench
sources: [{name: gh, provider: github, repository: Codertocat/Hello-World, webhook_secret: {value: bench-preview-secret}}]
stages:
  - name: dev
    resources: [{name: web, driver: container, container: {image: IMAGE}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}]}
preview_blueprints:
  - name: pr
    triggers: [{pull_request: {source: gh}}]
    resources:
      - name: web
        driver: container
        container:
          image: IMAGE
          env: {SHA: "${trigger.sha}"}
          command: [sh, -c, "echo $SHA > /www/sha.txt; exec httpd -f -p 8080 -h /www"]
          ports: [{container_port: 8080}]
          health: {http_path: /sha.txt}
          stop_timeout: 1s
)";
    for (size_t at; (at = yaml.find("IMAGE")) != std::string::npos;) yaml.replace(at, 5, image);
  }
  for (size_t at; (at = yaml.find("HELLO")) != std::string::npos;) yaml.replace(at, 5, hello);
  if (!slipway::bench::ApplyPipeline(client.channel(), token, yaml)) return 1;

  // Phase 1: cycles, `in_flight` at a time.
  std::atomic<int> next{1}, ok{0}, failed{0};
  std::mutex mu;
  std::vector<double> open_to_ready;
  auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < in_flight; ++w) {
    workers.emplace_back([&] {
      for (int n = next++; n <= cycles; n = next++) {
        std::string name = "pr-" + std::to_string(n);
        std::string sha = slipway::Sha256Hex(name).substr(0, 40);
        auto t0 = Clock::now();
        bool good =
            client.Send(n, "opened", sha) && client.WaitFor(name, slipway::v1::PREVIEW_STATE_READY);
        auto t1 = Clock::now();
        good = good && client.Send(n, "closed", sha) &&
               client.WaitFor(name, slipway::v1::PREVIEW_STATE_DELETED);
        if (good) {
          ++ok;
          std::lock_guard<std::mutex> lock(mu);
          open_to_ready.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  long rss_after_cycles = RssKb(*daemon);

  // Phase 2: `live` previews at once.
  long rss_idle = RssKb(*daemon);
  auto live_start = Clock::now();
  std::atomic<int> sent{0};
  std::vector<std::thread> openers;
  std::atomic<int> next_live{0};
  for (int w = 0; w < 8; ++w) {
    openers.emplace_back([&] {
      for (int i = next_live++; i < live; i = next_live++) {
        int n = 100000 + i;
        if (client.Send(n, "opened", slipway::Sha256Hex(std::to_string(n)).substr(0, 40))) ++sent;
      }
    });
  }
  for (auto& t : openers) t.join();
  int ready = 0;
  for (int i = 0; i < 1200; ++i) {
    ready = client.CountIn(slipway::v1::PREVIEW_STATE_READY);
    if (ready >= live) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  double live_seconds = std::chrono::duration<double>(Clock::now() - live_start).count();
  long rss_live = RssKb(*daemon);
  // Close them all again.
  std::atomic<int> next_close{0};
  std::vector<std::thread> closers;
  for (int w = 0; w < 8; ++w) {
    closers.emplace_back([&] {
      for (int i = next_close++; i < live; i = next_close++) {
        int n = 100000 + i;
        client.Send(n, "closed", slipway::Sha256Hex(std::to_string(n)).substr(0, 40));
      }
    });
  }
  for (auto& t : closers) t.join();
  for (int i = 0; i < 1200; ++i) {
    if (client.CountIn(slipway::v1::PREVIEW_STATE_DELETED) == 0 &&
        client.CountIn(slipway::v1::PREVIEW_STATE_TEARING_DOWN) == 0 &&
        client.CountIn(slipway::v1::PREVIEW_STATE_READY) == 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::printf(
      "{\"cycles_ok\": %d, \"cycles_failed\": %d, \"cycles_per_s\": %.1f, "
      "\"open_to_ready_p50_ms\": %.1f, \"open_to_ready_p99_ms\": %.1f, "
      "\"rss_after_cycles_mb\": %.1f, \"live_requested\": %d, \"live_ready\": %d, "
      "\"live_seconds\": %.1f, \"rss_idle_mb\": %.1f, \"rss_live_mb\": %.1f, \"controller\": "
      "\"%s\"}\n",
      ok.load(), failed.load(), ok / seconds, Percentile(open_to_ready, 0.5),
      Percentile(open_to_ready, 0.99), rss_after_cycles / 1024.0, live, ready, live_seconds,
      rss_idle / 1024.0, rss_live / 1024.0,
      ReadAll(dir + "/data/container/controller-id").substr(0, 12).c_str());
  kill(*daemon, SIGTERM);
  int status = 0;
  waitpid(*daemon, &status, 0);
  std::filesystem::remove_all(dir);
  return failed == 0 ? 0 : 1;
}
