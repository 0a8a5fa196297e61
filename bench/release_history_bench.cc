// Release history at scale: a stage with N stored releases (1,000,000 by default, written
// through the store layer in large transactions), then the reads rollback depends on — list
// first and last page, get one release, find the rollback target — as p50/p99 over many calls,
// database bytes per release, and the controller's own time for RollbackStage of a
// 10-resource stage with a no-op driver (from the call to the run's durable end).
//   release_history_bench [--releases 1000000] [--samples 2000] [--rollbacks 100]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "bench/noop_driver.h"
#include "common/clock.h"
#include "common/random.h"
#include "release/executor.h"
#include "release/stage_manager.h"
#include "storage/database.h"
#include "storage/pipeline_repository.h"
#include "storage/run_repository.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = slipway::v1;

using slipway::bench::NoopDriver;

// Runs each task at once, on the caller's thread.
class InlineTasks final : public slipway::deploy::TaskRunner {
 public:
  void Post(std::function<void()> task) override { task(); }
};

struct Stats {
  double p50, p99;
};

template <typename Fn>
Stats Measure(int samples, Fn fn) {
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    auto t0 = Clock::now();
    fn(i);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

v1::ResourceState Resource(const std::string& name, int64_t version) {
  v1::ResourceState r;
  r.set_name(name);
  r.mutable_spec()->set_name(name);
  r.mutable_spec()->set_driver("process");
  r.mutable_spec()->mutable_process()->add_command("hello-server");
  r.mutable_spec()->mutable_process()->add_command("--version");
  r.mutable_spec()->mutable_process()->add_command("${artifact.version}");
  r.mutable_artifact()->set_version("1." + std::to_string(version));
  r.mutable_artifact()->set_sha("3f2c9a1b7e0d4c2a9b8f7e6d5c4b3a2918f7e6d5");
  r.mutable_update_time()->set_seconds(1795500000);
  r.set_run_id("run-0123456789abcdef");
  (*r.mutable_status())["url"] = "http://127.0.0.1:40001";
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"release_history_bench"};
  int64_t n = 1'000'000;
  int samples = 2000, rollbacks = 100;
  app.add_option("--releases", n);
  app.add_option("--samples", samples);
  app.add_option("--rollbacks", rollbacks);
  CLI11_PARSE(app, argc, argv);

  std::string dir = std::filesystem::temp_directory_path() / "slipway-history-XXXXXX";
  dir = ::mkdtemp(dir.data());
  std::string path = dir + "/slipway.db";
  auto db = slipway::storage::Database::Open({.path = path});
  if (!db.ok()) return 1;
  slipway::storage::ReleaseRepository releases;

  // Each release of the big stage snapshots three resources.
  auto t0 = Clock::now();
  const int64_t batch = 20'000;
  for (int64_t start = 0; start < n; start += batch) {
    auto s = (*db)->Write([&](slipway::storage::Transaction& tx) -> absl::Status {
      for (int64_t i = start; i < std::min(n, start + batch); ++i) {
        v1::Release r;
        r.set_pipeline("shop");
        r.set_stage("prod");
        r.set_run_id("run-0123456789abcdef");
        r.set_pipeline_revision(7);
        r.mutable_create_time()->set_seconds(1795500000);
        r.mutable_trigger()->set_sha("3f2c9a1b7e0d4c2a9b8f7e6d5c4b3a2918f7e6d5");
        r.mutable_trigger()->set_event("push");
        for (const char* name : {"web", "api", "worker"}) *r.add_resources() = Resource(name, i);
        auto number = releases.Insert(tx, std::move(r));
        if (!number.ok()) return number.status();
      }
      return absl::OkStatus();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "insert: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  // Size after a checkpoint, so the WAL is folded into the database file.
  db->reset();
  db = slipway::storage::Database::Open({.path = path});
  std::error_code ec;
  double bytes = static_cast<double>(std::filesystem::file_size(path, ec));

  std::mt19937_64 rng(42);
  auto read = [&](auto fn) {
    auto s = (*db)->Read([&](slipway::storage::Transaction& tx) -> absl::Status { return fn(tx); });
    if (!s.ok()) std::fprintf(stderr, "read: %s\n", std::string(s.message()).c_str());
  };
  Stats first_page = Measure(samples, [&](int) {
    read([&](auto& tx) { return releases.List(tx, "shop", "prod", 0, 50).status(); });
  });
  Stats last_page = Measure(samples, [&](int) {
    read([&](auto& tx) { return releases.List(tx, "shop", "prod", 51, 50).status(); });
  });
  Stats get = Measure(samples, [&](int) {
    int64_t number = 1 + static_cast<int64_t>(rng() % n);
    read([&](auto& tx) { return releases.Get(tx, "shop", "prod", number).status(); });
  });
  Stats target = Measure(samples, [&](int) {
    read([&](auto& tx) -> absl::Status {
      auto latest = releases.Latest(tx, "shop", "prod");
      if (!latest.ok()) return latest.status();
      return releases.List(tx, "shop", "prod", (*latest)->number(), 1).status();
    });
  });

  // RollbackStage of a 10-resource stage, through the executor with a no-op driver: the
  // controller's own time from the call to the run's last committed transition.
  slipway::RealClock clock;
  slipway::SecureIdGenerator ids;
  NoopDriver noop;
  InlineTasks tasks;
  slipway::release::ExecutorDeps deps{db->get(), &clock, &ids, {{"process", &noop}},
                                      nullptr,   &tasks};
  slipway::release::Executor executor(deps);
  slipway::release::StageManager stages(db->get(), &executor, &clock);
  v1::Pipeline pipeline;
  pipeline.set_name("ten");
  auto* stage = pipeline.add_stages();
  stage->set_name("prod");
  for (int r = 0; r < 2; ++r) {
    (*db)
        ->Write([&](slipway::storage::Transaction& tx) -> absl::Status {
          v1::Release rel;
          rel.set_pipeline("ten");
          rel.set_stage("prod");
          for (int i = 0; i < 10; ++i)
            *rel.add_resources() = Resource("svc-" + std::to_string(i), r);
          return releases.Insert(tx, rel).status();
        })
        .IgnoreError();
  }
  (*db)
      ->Write([&](slipway::storage::Transaction& tx) {
        return slipway::storage::PipelineRepository().Insert(tx, pipeline);
      })
      .IgnoreError();
  int failed = 0;
  Stats rollback = Measure(rollbacks, [&](int i) {
    v1::RollbackStageRequest req;
    req.set_pipeline("ten");
    req.set_stage("prod");
    req.set_to_release(1 + (i % 2));
    auto resp = stages.Rollback(req, "bench");
    if (!resp.ok()) {
      ++failed;
      return;
    }
    while (executor.ActiveRuns() > 0) {
      if (!executor.Tick().ok()) ++failed;
    }
  });
  int64_t releases_ten = 0;
  (*db)
      ->Read([&](slipway::storage::Transaction& tx) -> absl::Status {
        auto latest = releases.Latest(tx, "ten", "prod");
        if (latest.ok() && latest->has_value()) releases_ten = (*latest)->number();
        return absl::OkStatus();
      })
      .IgnoreError();

  std::printf(
      "{\"releases\": %lld, \"load_seconds\": %.1f, \"db_bytes_per_release\": %.0f, "
      "\"list_first_page_p50_ms\": %.3f, \"list_first_page_p99_ms\": %.3f, "
      "\"list_last_page_p50_ms\": %.3f, \"list_last_page_p99_ms\": %.3f, "
      "\"get_release_p50_ms\": %.3f, \"get_release_p99_ms\": %.3f, "
      "\"rollback_target_p50_ms\": %.3f, \"rollback_target_p99_ms\": %.3f, "
      "\"rollback_10_resources_p50_ms\": %.3f, \"rollback_10_resources_p99_ms\": %.3f, "
      "\"rollbacks\": %d, \"rollback_failures\": %d, \"releases_after_rollbacks\": %lld}\n",
      static_cast<long long>(n), load_s, bytes / n, first_page.p50, first_page.p99, last_page.p50,
      last_page.p99, get.p50, get.p99, target.p50, target.p99, rollback.p50, rollback.p99,
      rollbacks, failed, static_cast<long long>(releases_ten));
  db->reset();
  std::filesystem::remove_all(dir);
  return failed == 0 ? 0 : 1;
}
