// Idle cost at size, against a real slipwayd (its own process): 10,000 pipelines with a daily
// schedule, 1,000 pipelines polling a local Git repository (hourly) and 1,000 live previews,
// then slipwayd's CPU over an idle window (utime + stime from /proc) and its RSS. The same
// calls (GetPipeline, ListRuns, StartRun) are timed with 10 pipelines and again at full size,
// and a schedule due at a chosen minute is checked against the time its run was created.
//   idle_bench [--slipwayd PATH] [--schedules 10000] [--polled 1000] [--previews 1000]
//              [--idle-seconds 60] [--calls 300]
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_server.h"
#include "common/proto_time.h"
#include "common/time_format.h"
#include "deploy/subprocess.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"
#include "slipway/v1/preview.grpc.pb.h"
#include "slipway/v1/release_service.grpc.pb.h"

namespace {

using slipway::bench::ReadAll;
using slipway::bench::RssKb;

using Steady = std::chrono::steady_clock;

// CPU seconds (user + system) the process has used.
double CpuSeconds(pid_t pid) {
  std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Latency {
  double p50 = 0, p99 = 0;
};

Latency Time(int calls, const std::function<bool()>& call) {
  std::vector<double> ms;
  for (int i = 0; i < calls; ++i) {
    auto t0 = Steady::now();
    if (!call()) {
      std::fprintf(stderr, "a timed call failed\n");
      break;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
  }
  return {slipway::bench::Percentile(ms, 0.5), slipway::bench::Percentile(ms, 0.99)};
}

class Client {
 public:
  Client(const std::string& grpc, std::string token) : token_(std::move(token)) {
    channel_ = grpc::CreateChannel(grpc, grpc::InsecureChannelCredentials());
  }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  void Auth(grpc::ClientContext& ctx) const {
    ctx.AddMetadata("authorization", "Bearer " + token_);
  }
  bool Apply(const std::string& yaml) {
    return slipway::bench::ApplyPipeline(channel_, token_, yaml);
  }
  bool GetPipeline(const std::string& name) {
    thread_local auto stub = slipway::v1::PipelineService::NewStub(channel_);
    grpc::ClientContext ctx;
    Auth(ctx);
    slipway::v1::GetPipelineRequest req;
    req.set_name(name);
    slipway::v1::Pipeline out;
    return stub->GetPipeline(&ctx, req, &out).ok();
  }
  absl::StatusOr<slipway::v1::ListRunsResponse> ListRuns(const std::string& pipeline) {
    thread_local auto stub = slipway::v1::ReleaseService::NewStub(channel_);
    grpc::ClientContext ctx;
    Auth(ctx);
    slipway::v1::ListRunsRequest req;
    req.set_pipeline(pipeline);
    req.set_page_size(20);
    slipway::v1::ListRunsResponse out;
    grpc::Status s = stub->ListRuns(&ctx, req, &out);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    return out;
  }
  bool StartRun(const std::string& pipeline) {
    thread_local auto stub = slipway::v1::ReleaseService::NewStub(channel_);
    grpc::ClientContext ctx;
    Auth(ctx);
    slipway::v1::StartRunRequest req;
    req.set_pipeline(pipeline);
    req.set_stage("dev");
    slipway::v1::Run out;
    grpc::Status s = stub->StartRun(&ctx, req, &out);
    if (!s.ok()) std::fprintf(stderr, "StartRun: %s\n", s.error_message().c_str());
    return s.ok();
  }
  bool CreatePreview(const std::string& branch) {
    thread_local auto stub = slipway::v1::PreviewService::NewStub(channel_);
    grpc::ClientContext ctx;
    Auth(ctx);
    slipway::v1::CreatePreviewRequest req;
    req.set_pipeline("previews");
    req.set_branch(branch);
    req.set_sha(slipway::Sha256Hex(branch).substr(0, 40));
    slipway::v1::Preview out;
    grpc::Status s = stub->CreatePreview(&ctx, req, &out);
    if (!s.ok()) std::fprintf(stderr, "CreatePreview: %s\n", s.error_message().c_str());
    return s.ok();
  }
  int ReadyPreviews() {
    auto stub = slipway::v1::PreviewService::NewStub(channel_);
    grpc::ClientContext ctx;
    Auth(ctx);
    slipway::v1::ListPreviewsResponse resp;
    if (!stub->ListPreviews(&ctx, {}, &resp).ok()) return -1;
    return static_cast<int>(
        std::count_if(resp.previews().begin(), resp.previews().end(),
                      [](const auto& p) { return p.state() == slipway::v1::PREVIEW_STATE_READY; }));
  }

 private:
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
};

std::string SchedulePipeline(int i, const std::string& cron) {
  return absl::StrCat(R"(
name: sched-)",
                      i, R"(
stages:
  - name: dev
    concurrency: allow
    resources: [{name: web, driver: command, command: {apply: ["true"]}}]
    triggers: [{schedule: {cron: ")",
                      cron, R"("}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}]}
)");
}

std::string PolledPipeline(int i, const std::string& repo) {
  return absl::StrCat(R"(
name: polled-)",
                      i, R"(
sources: [{name: app, provider: github, repository: bench/polled, clone_url: ")",
                      repo,
                      R"(", poll_interval: 1h}]
stages:
  - name: dev
    resources: [{name: web, driver: command, command: {apply: ["true"]}}]
    triggers: [{git: {source: app, branches: [main]}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}]}
)");
}

constexpr char kPreviewPipeline[] = R"(
name: previews
sources: [{name: app, provider: github, repository: bench/previews}]
stages:
  - name: dev
    resources: [{name: web, driver: command, command: {apply: ["true"]}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}]}
preview_blueprints:
  - name: branch
    triggers: [{push: {source: app}}]
    resources: [{name: web, driver: command, command: {apply: ["true"]}}]
)";

// Applies `count` pipelines made by `make`, `threads` at a time.
bool ApplyMany(Client& client, int from, int to, const std::function<std::string(int)>& make,
               int threads = 8) {
  std::atomic<int> next{from};
  std::atomic<bool> ok{true};
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&] {
      for (int i = next++; i < to && ok; i = next++) {
        if (!client.Apply(make(i))) ok = false;
      }
    });
  }
  for (auto& t : workers) t.join();
  return ok;
}

struct Calls {
  Latency get, list, start;
};

Calls TimeCalls(Client& client, int calls) {
  Calls c;
  c.get = Time(calls, [&] { return client.GetPipeline("sched-0"); });
  c.list = Time(calls, [&] { return client.ListRuns("sched-1").ok(); });
  c.start = Time(calls, [&] { return client.StartRun("sched-2"); });
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"idle_bench"};
  std::string slipwayd = SLIPWAYD_PATH;
  int schedules = 10000, polled = 1000, previews = 1000, idle_seconds = 60, calls = 300;
  app.add_option("--slipwayd", slipwayd);
  app.add_option("--schedules", schedules);
  app.add_option("--polled", polled);
  app.add_option("--previews", previews);
  app.add_option("--idle-seconds", idle_seconds);
  app.add_option("--calls", calls);
  CLI11_PARSE(app, argc, argv);

  std::string dir = std::filesystem::temp_directory_path() / "slipway-idle-bench-XXXXXX";
  dir = ::mkdtemp(dir.data());
  const std::string repo = dir + "/repo.git";
  const std::string work = dir + "/work";
  // Our own fixed paths only: nothing user-provided reaches the shell.
  std::string git = absl::StrCat(
      "git init -q --bare ", repo, " && git init -q -b main ", work, " && git -C ", work,
      " -c user.email=b@example.com -c user.name=b commit -q --allow-empty -m first && git -C ",
      work, " push -q ", repo, " main");
  if (std::system(git.c_str()) != 0) {
    std::fprintf(stderr, "cannot create the polled repository\n");
    return 1;
  }
  slipway::deploy::SpawnOptions spawn{{slipwayd, "--data-dir", dir + "/data", "--grpc-listen",
                                       "127.0.0.1:0", "--http-listen", "127.0.0.1:0"},
                                      slipway::deploy::BaseEnvironment(),
                                      dir,
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
  Client client(endpoints["grpc"], token);
  auto stop = [&](int code) {
    ::kill(*daemon, SIGTERM);
    int status = 0;
    ::waitpid(*daemon, &status, 0);
    std::filesystem::remove_all(dir);
    return code;
  };

  // Daily at 03:17 UTC: never due while the benchmark runs (unless it runs at 03:17).
  auto schedule = [](int i) { return SchedulePipeline(i, "17 3 * * *"); };
  if (!ApplyMany(client, 0, 10, schedule)) return stop(1);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int small_idle = std::max(10, idle_seconds / 3);
  double cpu0 = CpuSeconds(*daemon);
  std::this_thread::sleep_for(std::chrono::seconds(small_idle));
  double small_cpu = (CpuSeconds(*daemon) - cpu0) / small_idle * 100;
  Calls small = TimeCalls(client, calls);
  long small_rss = RssKb(*daemon);

  auto t0 = Steady::now();
  if (!ApplyMany(client, 10, schedules, schedule)) return stop(1);
  double apply_s = std::chrono::duration<double>(Steady::now() - t0).count();
  if (!ApplyMany(client, 0, polled, [&](int i) { return PolledPipeline(i, repo); })) {
    return stop(1);
  }
  if (!client.Apply(kPreviewPipeline)) return stop(1);
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      for (int i = next++; i < previews; i = next++) client.CreatePreview("b-" + std::to_string(i));
    });
  }
  for (auto& t : workers) t.join();
  int ready = 0;
  for (int i = 0; i < 600 && (ready = client.ReadyPreviews()) < previews; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (ready < previews) {
    std::fprintf(stderr, "only %d of %d previews became ready\n", ready, previews);
    return stop(1);
  }
  // The first polls of every source, and the runs the previews started, are done by now; let
  // the last writes settle.
  std::this_thread::sleep_for(std::chrono::seconds(5));
  cpu0 = CpuSeconds(*daemon);
  std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
  double big_cpu = (CpuSeconds(*daemon) - cpu0) / idle_seconds * 100;
  long big_rss = RssKb(*daemon);
  Calls big = TimeCalls(client, calls);

  // A schedule due at the next minute that is at least 20 s away.
  absl::Time now = absl::Now();
  absl::Time minute =
      absl::FromUnixSeconds((absl::ToUnixSeconds(now + absl::Seconds(20)) / 60 + 1) * 60);
  absl::CivilMinute cm = absl::ToCivilMinute(minute, absl::UTCTimeZone());
  const std::string probe = absl::StrCat(cm.minute(), " ", cm.hour(), " * * *");
  if (!client.Apply(SchedulePipeline(schedules, probe))) return stop(1);
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(minute - absl::Now() + absl::Seconds(5)));
  auto runs = client.ListRuns(absl::StrCat("sched-", schedules));
  double late_ms = -1;
  if (runs.ok() && runs->runs_size() > 0) {
    if (auto created = slipway::TimeFromProto(runs->runs(0).create_time())) {
      late_ms = absl::ToDoubleMilliseconds(*created - minute);
    }
  }

  std::printf("pipelines with a daily schedule: %d, polled sources: %d, live previews: %d\n",
              schedules, polled, previews);
  std::printf("applying %d schedule pipelines: %.1f s (%.0f applies/s, 8 clients)\n",
              schedules - 10, apply_s, (schedules - 10) / apply_s);
  std::printf("idle CPU, 10 pipelines (%d s):   %.3f %% of one core, RSS %ld KiB\n", small_idle,
              small_cpu, small_rss);
  std::printf("idle CPU, full size (%d s):      %.3f %% of one core, RSS %ld KiB\n", idle_seconds,
              big_cpu, big_rss);
  std::printf("%-12s %14s %14s\n", "call (ms)", "10 pipelines", "full size");
  std::printf("%-12s %6.2f / %5.2f %6.2f / %5.2f  (p50 / p99)\n", "GetPipeline", small.get.p50,
              small.get.p99, big.get.p50, big.get.p99);
  std::printf("%-12s %6.2f / %5.2f %6.2f / %5.2f\n", "ListRuns", small.list.p50, small.list.p99,
              big.list.p50, big.list.p99);
  std::printf("%-12s %6.2f / %5.2f %6.2f / %5.2f\n", "StartRun", small.start.p50, small.start.p99,
              big.start.p50, big.start.p99);
  std::printf("schedule due at %s: run created %.0f ms after that minute\n",
              slipway::FormatRfc3339(minute).c_str(), late_ms);
  return stop(late_ms >= 0 ? 0 : 1);
}
