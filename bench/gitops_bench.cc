// Pipelines kept in Git: how long from a push of the pipeline's file to the applied revision,
// and from an API edit to the pushed commit, against a local bare repository.
//   - webhook: an in-process slipwayd; for each push (made with the git CLI, not timed) a
//     signed GitHub push delivery over HTTP, timed until its 200, which comes once the file is
//     fetched, validated and stored. Baseline in the same run: the same delivery for a push
//     that does not touch the file (no fetch, no sync).
//   - poll: the poller, the intake and the sync in process on a manual clock; timed from the
//     poll that comes due to the applied revision. A real push waits up to one poll interval
//     (at least 5 s) more before that poll.
//   - API edit: ApplyPipeline of a bound pipeline over gRPC, which answers once the commit is
//     pushed and the revision stored. Baseline: the same edit of an unbound pipeline.
//   gitops_bench [--pushes 200] [--edits 50]
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "bench/bench_server.h"
#include "common/random.h"
#include "deploy/httplib_http_client.h"
#include "deploy/thread_pool.h"
#include "gitops/gitops.h"
#include "release/executor.h"
#include "storage/pipeline_repository.h"
#include "trigger/poller.h"

namespace {

using Steady = std::chrono::steady_clock;

double MsSince(Steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
}

// Runs a shell command; false (after printing it) if it fails.
bool Sh(const std::string& cmd) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) == 0) return true;
  std::fprintf(stderr, "failed: %s\n", cmd.c_str());
  return false;
}

// A bare repository and a work clone the benchmark pushes from with the git CLI.
struct Repo {
  std::string origin, work;
  std::string Git() const {
    return "git -c user.name=bench -c user.email=bench@example.com -C " + work + " ";
  }
  bool Init(const std::string& dir) {
    origin = dir + "/origin.git";
    work = dir + "/work";
    return Sh("git init -q --bare -b main " + origin) &&
           Sh("git clone -q " + origin + " " + work) && Sh(Git() + "checkout -q -b main") &&
           Write("README.md", "bench\n") && Sh(Git() + "add -A") &&
           Sh(Git() + "commit -q -m first") && Sh(Git() + "push -q origin main");
  }
  bool Write(const std::string& file, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(work + "/" + file).parent_path());
    std::ofstream(work + "/" + file) << text;
    return true;
  }
  // Pulls, writes `file`, commits and pushes; the new head, or "" on failure.
  std::string Push(const std::string& file, const std::string& text) const {
    if (!Sh(Git() + "pull -q --rebase origin main") || !Write(file, text) ||
        !Sh(Git() + "add -A") || !Sh(Git() + "commit -q -m change") ||
        !Sh(Git() + "push -q origin main")) {
      return "";
    }
    return Head();
  }
  std::string Head() const {
    const std::string out = work + "/../head";
    std::system(("git -C " + origin + " rev-parse main > " + out).c_str());
    std::string sha;
    std::ifstream(out) >> sha;
    return sha;
  }
  std::string Read(const std::string& file) const {
    Sh(Git() + "pull -q --rebase origin main");
    return slipway::bench::ReadAll(work + "/" + file);
  }
};

std::string PipelineYaml(const std::string& name, const std::string& origin,
                         const std::string& extra_source = "") {
  return "name: " + name + R"(
description: bench 0
sources:
  - {name: app, provider: github, repository: acme/shop, clone_url: )" +
         origin + R"(, webhook_secret: {value: bench-secret})" + extra_source + R"(}
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [web]}}]
    triggers: [{git: {source: app, branches: [main], paths: {include: ["src/**"]}}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}]}
)";
}

// The file in the work clone with its description replaced.
std::string WithDescription(const std::string& file, const std::string& description) {
  std::string out = file;
  auto at = out.find("description: ");
  auto end = out.find('\n', at);
  out.replace(at, end - at, "description: " + description);
  return out;
}

std::string PushPayload(const std::string& sha, const std::string& file) {
  nlohmann::json commit = {{"id", sha},
                           {"message", "change"},
                           {"added", nlohmann::json::array()},
                           {"removed", nlohmann::json::array()},
                           {"modified", {file}},
                           {"timestamp", "2026-12-02T10:00:00Z"}};
  nlohmann::json d = {{"ref", "refs/heads/main"},
                      {"before", "0000000000000000000000000000000000000000"},
                      {"after", sha},
                      {"created", false},
                      {"deleted", false},
                      {"repository", {{"full_name", "acme/shop"}, {"name", "shop"}}},
                      {"commits", {commit}},
                      {"head_commit", commit},
                      {"sender", {{"login", "bench"}}}};
  return d.dump();
}

void Report(const char* what, const std::vector<double>& ms) {
  std::printf("%-58s n=%-4zu p50 %7.2f ms  p99 %7.2f ms\n", what, ms.size(),
              slipway::bench::Percentile(ms, 0.5), slipway::bench::Percentile(ms, 0.99));
}

// A clock the poll phase moves by hand.
class ManualClock final : public slipway::Clock {
 public:
  absl::Time Now() const override { return now_; }
  void Sleep(absl::Duration d) const override { now_ += d; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  mutable absl::Time now_ = absl::Now();
};

int WebhookAndApi(int pushes, int edits) {
  auto server = slipway::bench::BenchServer::Start("gitops");
  if (server == nullptr) return 1;
  Repo repo;
  if (!repo.Init(server->dir())) return 1;
  if (!server->Apply(PipelineYaml("shop", repo.origin)) ||
      !server->Apply(PipelineYaml("plain", repo.origin))) {
    return 1;
  }
  auto stub = slipway::v1::PipelineService::NewStub(server->channel());
  slipway::v1::EnableGitOpsRequest enable;
  enable.set_pipeline("shop");
  enable.set_source("app");
  enable.set_path(".slipway/shop.yaml");
  slipway::v1::GitOpsBinding binding;
  grpc::Status s = stub->EnableGitOps(server->Context().get(), enable, &binding);
  if (!s.ok()) {
    std::fprintf(stderr, "enable: %s\n", s.error_message().c_str());
    return 1;
  }
  httplib::Client http("127.0.0.1", server->http_port());
  http.set_keep_alive(true);
  http.set_tcp_nodelay(true);
  auto deliver = [&](const std::string& sha, const std::string& file, int n) {
    const std::string body = PushPayload(sha, file);
    httplib::Headers headers = {
        {"X-GitHub-Event", "push"},
        {"X-GitHub-Delivery", "bench-" + std::to_string(n) + "-" + sha},
        {"X-Hub-Signature-256", "sha256=" + slipway::HmacSha256Hex("bench-secret", body)}};
    auto t0 = Steady::now();
    auto res = http.Post("/hooks/github", headers, body, "application/json");
    double ms = MsSince(t0);
    if (!res || res->status != 200) {
      std::fprintf(stderr, "delivery: %d %s\n", res ? res->status : -1,
                   res ? res->body.c_str() : "no response");
      return -1.0;
    }
    return ms;
  };
  std::vector<double> synced, plain;
  std::string file = repo.Read(".slipway/shop.yaml");
  for (int i = 1; i <= pushes; ++i) {
    file = WithDescription(file, "bench " + std::to_string(i));
    const std::string sha = repo.Push(".slipway/shop.yaml", file);
    double ms = deliver(sha, ".slipway/shop.yaml", i);
    if (ms < 0) return 1;
    synced.push_back(ms);
    // The baseline: a push of another file, the same delivery path without a sync (202: no
    // trigger matches it either).
    const std::string other = repo.Push("docs/notes.md", "note " + std::to_string(i) + "\n");
    const std::string body = PushPayload(other, "docs/notes.md");
    httplib::Headers headers = {
        {"X-GitHub-Event", "push"},
        {"X-GitHub-Delivery", "plain-" + std::to_string(i)},
        {"X-Hub-Signature-256", "sha256=" + slipway::HmacSha256Hex("bench-secret", body)}};
    auto t0 = Steady::now();
    auto res = http.Post("/hooks/github", headers, body, "application/json");
    plain.push_back(MsSince(t0));
    if (!res || res->status >= 300) {
      std::fprintf(stderr, "plain delivery: %d\n", res ? res->status : -1);
      return 1;
    }
  }
  slipway::v1::GetPipelineRequest get;
  get.set_name("shop");
  slipway::v1::Pipeline stored;
  stub->GetPipeline(server->Context().get(), get, &stored);
  if (stored.description() != "bench " + std::to_string(pushes)) {
    std::fprintf(stderr, "the last push was not applied: %s\n", stored.description().c_str());
    return 1;
  }
  Report("webhook: push of the bound file -> applied revision", synced);
  Report("webhook: push of another file (baseline, no sync)", plain);

  std::vector<double> bound_edits, plain_edits;
  for (int i = 1; i <= edits; ++i) {
    for (const char* name : {"shop", "plain"}) {
      slipway::v1::Pipeline p;
      get.set_name(name);
      stub->GetPipeline(server->Context().get(), get, &p);
      p.set_description("api " + std::to_string(i));
      slipway::v1::ApplyPipelineRequest req;
      *req.mutable_pipeline() = p;
      slipway::v1::ApplyPipelineResponse resp;
      auto t0 = Steady::now();
      s = stub->ApplyPipeline(server->Context().get(), req, &resp);
      double ms = MsSince(t0);
      if (!s.ok()) {
        std::fprintf(stderr, "apply %s: %s\n", name, s.error_message().c_str());
        return 1;
      }
      (std::string(name) == "shop" ? bound_edits : plain_edits).push_back(ms);
    }
  }
  if (repo.Read(".slipway/shop.yaml").find("api " + std::to_string(edits)) == std::string::npos) {
    std::fprintf(stderr, "the last API edit is not in Git\n");
    return 1;
  }
  Report("API edit of a bound pipeline -> commit pushed and stored", bound_edits);
  Report("API edit of an unbound pipeline (baseline)", plain_edits);
  return 0;
}

int Poll(int pushes) {
  std::string dir = std::filesystem::temp_directory_path() / "slipway-gitops-poll-XXXXXX";
  dir = ::mkdtemp(dir.data());
  Repo repo;
  if (!repo.Init(dir)) return 1;
  auto db = slipway::storage::Database::Open({.path = dir + "/db"});
  if (!db.ok()) return 1;
  ManualClock clock;
  slipway::SecureIdGenerator ids;
  slipway::bench::NoopDriver noop;
  slipway::deploy::HttplibHttpClient http;
  slipway::deploy::ThreadPool tasks(2);
  slipway::release::ExecutorDeps deps{db->get(), &clock, &ids, {{"process", &noop}}, &http, &tasks};
  slipway::release::Executor executor(deps);
  slipway::pipeline::PipelineManager manager(db->get(), &clock, &ids);
  slipway::trigger::WebhookIntake intake(db->get(), &executor, &clock, &ids);
  slipway::gitops::GitFiles files(dir + "/clones", &clock);
  slipway::gitops::GitOps gitops(db->get(), &manager, &files, &clock, nullptr);
  manager.SetWriteBack(&gitops);
  intake.SetPushHook(&gitops);
  slipway::v1::CreatePipelineRequest create;
  if (!slipway::ParseYaml(PipelineYaml("polled", repo.origin, ", poll_interval: 5s"),
                          create.mutable_pipeline())
           .ok() ||
      !manager.Create(create).ok()) {
    std::fprintf(stderr, "cannot create the polled pipeline\n");
    return 1;
  }
  slipway::v1::EnableGitOpsRequest enable;
  enable.set_pipeline("polled");
  enable.set_source("app");
  enable.set_path(".slipway/polled.yaml");
  if (auto b = gitops.Enable(enable, {}); !b.ok()) {
    std::fprintf(stderr, "enable: %s\n", std::string(b.status().message()).c_str());
    return 1;
  }
  slipway::trigger::Libgit2RefLister lister(dir + "/mirrors");
  slipway::trigger::Poller poller(db->get(), &intake, &lister, &clock);
  if (!poller.Tick().ok()) return 1;  // the first poll records what is there
  std::vector<double> ms;
  std::string file = repo.Read(".slipway/polled.yaml");
  for (int i = 1; i <= pushes; ++i) {
    file = WithDescription(file, "polled " + std::to_string(i));
    if (repo.Push(".slipway/polled.yaml", file).empty()) return 1;
    clock.Advance(absl::Seconds(5));
    auto t0 = Steady::now();
    auto report = poller.Tick();
    ms.push_back(MsSince(t0));
    if (!report.ok() || report->events != 1) {
      std::fprintf(stderr, "poll %d found no push\n", i);
      return 1;
    }
  }
  auto stored = manager.Get("polled");
  if (!stored.ok() || stored->description() != "polled " + std::to_string(pushes)) {
    std::fprintf(stderr, "the last polled push was not applied\n");
    return 1;
  }
  Report("poll: due poll -> applied revision (+ up to one interval)", ms);
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GitOps latency: push -> applied revision, API edit -> pushed commit"};
  int pushes = 200, edits = 50;
  app.add_option("--pushes", pushes, "Pushes of the bound file, per path");
  app.add_option("--edits", edits, "API edits, bound and unbound each");
  CLI11_PARSE(app, argc, argv);
  if (int rc = WebhookAndApi(pushes, edits); rc != 0) return rc;
  return Poll(pushes);
}
