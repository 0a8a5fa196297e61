// Writes N releases of one stage straight into a stopped slipwayd's store (as
// release_history_bench does), for bench/ui_bench.sh: a history the dashboard has to page.
//   ui_seed --data-dir D [--pipeline shop] [--stage prod] [--releases 100000]
#include <CLI/CLI.hpp>
#include <cstdio>

#include "storage/database.h"
#include "storage/run_repository.h"

namespace v1 = slipway::v1;

int main(int argc, char** argv) {
  CLI::App app{"ui_seed"};
  std::string data_dir, pipeline = "shop", stage = "prod";
  int64_t n = 100'000;
  app.add_option("--data-dir", data_dir)->required();
  app.add_option("--pipeline", pipeline);
  app.add_option("--stage", stage);
  app.add_option("--releases", n);
  CLI11_PARSE(app, argc, argv);
  auto db = slipway::storage::Database::Open({.path = data_dir + "/slipway.db"});
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(db.status().message()).c_str());
    return 1;
  }
  slipway::storage::ReleaseRepository releases;
  const int64_t batch = 20'000;
  for (int64_t start = 0; start < n; start += batch) {
    auto s = (*db)->Write([&](slipway::storage::Transaction& tx) -> absl::Status {
      for (int64_t i = start; i < std::min(n, start + batch); ++i) {
        v1::Release r;
        r.set_pipeline(pipeline);
        r.set_stage(stage);
        r.set_run_id("run-0123456789abcdef");
        r.set_pipeline_revision(1);
        r.mutable_create_time()->set_seconds(1795500000 + i * 60);
        r.mutable_trigger()->set_sha("3f2c9a1b7e0d4c2a9b8f7e6d5c4b3a2918f7e6d5");
        r.mutable_trigger()->set_event("push");
        v1::ResourceState* web = r.add_resources();
        web->set_name("web");
        web->mutable_spec()->set_name("web");
        web->mutable_spec()->set_driver("process");
        web->mutable_spec()->mutable_process()->add_command("hello-server");
        web->mutable_artifact()->set_version("1." + std::to_string(i));
        (*web->mutable_status())["url"] = "http://127.0.0.1:40001";
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
  std::printf("seeded %lld releases of %s/%s\n", static_cast<long long>(n), pipeline.c_str(),
              stage.c_str());
  return 0;
}
