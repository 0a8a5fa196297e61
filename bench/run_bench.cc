// Release-flow throughput: N runs of a five-node flow whose nodes complete at once (a no-op
// driver in place of `process`), started through the gRPC API of an in-process slipwayd on a
// real SQLite file (every StartRun is durable when it returns). Reports runs per second from
// the first StartRun to the last run's end, p50/p99 of the time from StartRun returning to the
// run's first node reaching its driver, and the process's peak RSS (server and client).
// With --waiting N, N runs of another stage are started first and left waiting for an approval,
// so the measured runs share the executor with that many runs in progress.
//   run_bench [--runs 1000] [--clients 4] [--waiting 0]
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "bench/bench_server.h"
#include "bench/noop_driver.h"
#include "common/clock.h"
#include "common/proto_yaml.h"
#include "common/random.h"
#include "server/server.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"
#include "slipway/v1/release_service.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

using slipway::bench::NoopDriver;

long RssKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  }
  return 0;
}

constexpr char kPipeline[] = R"yaml(
name: bench
stages:
  - name: dev
    concurrency: allow
    resources:
      - {name: a, driver: process, process: {command: [noop]}}
      - {name: b, driver: process, process: {command: [noop]}}
      - {name: c, driver: process, process: {command: [noop]}}
      - {name: d, driver: process, process: {command: [noop]}}
      - {name: e, driver: process, process: {command: [noop]}}
    flow:
      sequential:
        - {ref: a, deploy: {resource: a, artifact: {version: "${trigger.sha}"}}}
        - {ref: b, deploy: {resource: b, artifact: {version: "${trigger.sha}"}}}
        - {ref: c, deploy: {resource: c, artifact: {version: "${trigger.sha}"}}}
        - {ref: d, deploy: {resource: d, artifact: {version: "${trigger.sha}"}}}
        - {ref: e, deploy: {resource: e, artifact: {version: "${trigger.sha}"}}}
  - name: gated
    concurrency: allow
    flow:
      sequential:
        - {ref: go, approval: {description: "left waiting by the benchmark"}}
)yaml";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"run_bench"};
  int runs = 1000, clients = 4, waiting = 0;
  app.add_option("--runs", runs);
  app.add_option("--clients", clients);
  app.add_option("--waiting", waiting, "runs left waiting for approval during the measurement");
  bool no_audit = false;
  app.add_flag("--no-audit", no_audit, "keep no audit trail (the baseline of what it costs)");
  CLI11_PARSE(app, argc, argv);

  auto bench = slipway::bench::BenchServer::Start("run-bench", {}, !no_audit);
  if (bench == nullptr || !bench->Apply(kPipeline)) return 1;
  auto channel = bench->channel();
  auto context = [&] { return bench->Context(); };
  NoopDriver& noop = bench->noop();

  std::atomic<int> errors{0};
  // Starts `n` runs of `stage` from `clients` threads; `started(id, when)` for each that did.
  auto start_runs = [&](const char* stage, int n,
                        const std::function<void(const std::string&, Clock::time_point)>& started) {
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
      threads.emplace_back([&, t] {
        auto stub = slipway::v1::ReleaseService::NewStub(channel);
        for (int i = t; i < n; i += clients) {
          slipway::v1::StartRunRequest req;
          req.set_pipeline("bench");
          req.set_stage(stage);
          req.mutable_trigger()->set_sha("sha" + std::to_string(i));
          slipway::v1::Run run;
          auto s = stub->StartRun(context().get(), req, &run);
          auto now = Clock::now();
          if (!s.ok()) {
            if (errors++ == 0) std::fprintf(stderr, "StartRun: %s\n", s.error_message().c_str());
            continue;
          }
          started(run.id(), now);
        }
      });
    }
    for (auto& t : threads) t.join();
  };
  start_runs("gated", waiting, [](const std::string&, Clock::time_point) {});

  std::mutex mu;
  std::map<std::string, Clock::time_point> started;
  auto begin = Clock::now();
  start_runs("dev", runs, [&](const std::string& id, Clock::time_point when) {
    std::lock_guard<std::mutex> lock(mu);
    started[id] = when;
  });
  // All runs end when every node has been applied and the last transitions are committed.
  auto stub = slipway::v1::ReleaseService::NewStub(channel);
  int succeeded = 0;
  auto deadline = Clock::now() + std::chrono::minutes(5);
  while (Clock::now() < deadline) {
    if (noop.applies() >= 5 * runs) {
      slipway::v1::ListRunsRequest req;
      req.set_pipeline("bench");
      req.add_states(slipway::v1::RUN_STATE_SUCCEEDED);
      req.set_page_size(100);
      succeeded = 0;
      do {
        slipway::v1::ListRunsResponse resp;
        if (!stub->ListRuns(context().get(), req, &resp).ok()) break;
        succeeded += resp.runs_size();
        req.set_page_token(resp.next_page_token());
      } while (!req.page_token().empty());
      if (succeeded >= runs) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  std::vector<double> to_first;
  auto first = noop.first();
  for (const auto& [id, t] : started) {
    auto it = first.find(id);
    if (it != first.end()) {
      to_first.push_back(std::chrono::duration<double, std::milli>(it->second - t).count());
    }
  }
  auto pct = [&](double p) { return slipway::bench::Percentile(to_first, p); };
  std::printf(
      "{\"runs\": %d, \"waiting_runs\": %d, \"succeeded\": %d, \"errors\": %d, \"seconds\": %.3f, "
      "\"runs_per_s\": %.1f, "
      "\"start_to_first_node_p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, "
      "\"peak_rss_mb\": %.1f, \"rss_mb\": %.1f}\n",
      runs, waiting, succeeded, errors.load(), seconds, succeeded / seconds, pct(0.5), pct(0.99),
      pct(1.0), RssKb("VmHWM:") / 1024.0, RssKb("VmRSS:") / 1024.0);
  return succeeded == runs && errors == 0 ? 0 : 1;
}
