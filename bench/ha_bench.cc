// Webhook intake and run throughput of slipwayd replicas: one replica on SQLite against one on
// PostgreSQL in the same run, then two and three replicas on the same PostgreSQL, with the
// store's round trips per delivery. Replicas run in this process (each its own Server, store
// connections, replica lease and executor) with the no-op driver; the load generator spreads
// signed GitHub pushes over them as a load balancer would. Run by bench/ha_bench.sh, which
// starts a durable PostgreSQL and then measures failover with real processes.
//   ha_bench --postgres URL --fixture push.json [--seconds 5] [--connections 16] [--replicas 3]
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_server.h"
#include "bench/noop_driver.h"
#include "common/random.h"
#include "common/secret_box.h"
#include "server/server.h"
#include "storage/postgres.h"

namespace {

using Clock = std::chrono::steady_clock;
using slipway::bench::NoopDriver;

// One replica in this process.
struct Replica {
  NoopDriver noop;
  std::unique_ptr<slipway::server::Server> server;
};

struct Phase {
  std::string name;
  double deliveries_per_s = 0;
  double runs_per_s = 0;
  double drain_s = 0;
  double round_trips = 0;        // per delivery, PostgreSQL only
  double write_round_trips = 0;  // of those, in write transactions (made one after another)
  long acked = 0;
  long refused = 0;
};

// Signed pushes, each with a new delivery id, from `connections` keep-alive clients spread over
// `ports`, for `seconds`. Returns {acknowledged (2xx), other answers}.
std::pair<long, long> Load(const std::vector<int>& ports, const std::string& body,
                           const std::string& tag, int connections, double seconds) {
  const std::string sig = "sha256=" + slipway::HmacSha256Hex("bench-secret", body);
  std::atomic<long> ok{0}, bad{0};
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", ports[t % ports.size()]);
      c.set_tcp_nodelay(true);
      c.set_keep_alive(true);
      for (long i = 0; Clock::now() < deadline; ++i) {
        httplib::Headers h{{"X-GitHub-Event", "push"},
                           {"X-GitHub-Delivery", absl::StrCat(tag, "-", t, "-", i)},
                           {"X-Hub-Signature-256", sig}};
        auto res = c.Post("/hooks/github", h, body, "application/json");
        ((res && res->status / 100 == 2) ? ok : bad).fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  return {ok.load(), bad.load()};
}

// Starts `n` replicas on `store` (empty: SQLite in the first one's data dir), applies the
// pipeline, loads them and waits until every acknowledged delivery's run has deployed.
// `token`: the admin token of the store, read from the first data dir that bootstraps it.
Phase Measure(const std::string& name, const std::string& store, int n, const std::string& dir,
              const std::string& key_file, const std::string& body, int connections, double seconds,
              std::string& token) {
  Phase p{name};
  std::vector<std::unique_ptr<Replica>> replicas;
  slipway::RealClock clock;
  slipway::SecureIdGenerator ids(&clock);
  std::vector<int> ports;
  for (int i = 0; i < n; ++i) {
    auto r = std::make_unique<Replica>();
    slipway::server::ServerOptions o;
    o.data_dir = absl::StrCat(dir, "/", name, "-", i);
    o.store = store;
    o.secret_key_file = key_file;
    o.grpc_listen = "127.0.0.1:0";
    o.http_listen = "127.0.0.1:0";
    o.driver_overrides = {{"process", &r->noop}};
    auto started = slipway::server::Server::Start(o, &clock, &ids);
    if (!started.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(),
                   std::string(started.status().message()).c_str());
      std::exit(1);
    }
    r->server = *std::move(started);
    if (std::ifstream file(slipway::server::AdminTokenPath(o.data_dir)); file) {
      std::getline(file, token);
    }
    ports.push_back(r->server->http_port());
    replicas.push_back(std::move(r));
  }
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", replicas[0]->server->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  if (!slipway::bench::ApplyPipeline(channel, token, slipway::bench::kPushPipeline)) std::exit(1);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the replicas share out their work
  auto applies = [&] {
    long sum = 0;
    for (auto& r : replicas) sum += r->noop.applies();
    return sum;
  };
  Load(ports, body, name + "-warm", connections, 1);
  while (applies() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const long before = applies();
  const uint64_t trips_before = slipway::storage::PostgresRoundTrips();
  const uint64_t write_trips_before = slipway::storage::PostgresWriterRoundTrips();
  const auto start = Clock::now();
  auto [ok, bad] = Load(ports, body, name, connections, seconds);
  const auto loaded = Clock::now();
  // The runs still queued when the load stops are worked off and counted in the run rate.
  while (applies() - before < ok && Clock::now() < loaded + std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto drained = Clock::now();
  const uint64_t trips = slipway::storage::PostgresRoundTrips() - trips_before;
  const uint64_t write_trips = slipway::storage::PostgresWriterRoundTrips() - write_trips_before;
  p.acked = ok;
  p.refused = bad;
  p.deliveries_per_s = ok / seconds;
  p.drain_s = std::chrono::duration<double>(drained - loaded).count();
  p.runs_per_s = (applies() - before) / std::chrono::duration<double>(drained - start).count();
  p.round_trips = ok > 0 ? static_cast<double>(trips) / ok : 0;
  p.write_round_trips = ok > 0 ? static_cast<double>(write_trips) / ok : 0;
  for (auto& r : replicas) r->server->Shutdown(absl::Seconds(5));
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ha_bench"};
  std::string postgres, fixture;
  double seconds = 5;
  int connections = 16;
  int max_replicas = 3;
  app.add_option("--postgres", postgres, "postgres://… of an empty, durable database")->required();
  app.add_option("--fixture", fixture, "A GitHub push payload")->required();
  app.add_option("--seconds", seconds, "Load per phase");
  app.add_option("--connections", connections, "Concurrent webhook senders");
  app.add_option("--replicas", max_replicas, "Measure 1 to this many PostgreSQL replicas")
      ->check(CLI::Range(1, 3));
  CLI11_PARSE(app, argc, argv);
  const std::string body = slipway::bench::ReadAll(fixture);
  std::string dir = std::filesystem::temp_directory_path() / "slipway-ha-bench-XXXXXX";
  dir = ::mkdtemp(dir.data());
  const std::string key_file = dir + "/secret.key";
  if (auto s = slipway::SecretBox::WriteNewKeyFile(key_file); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  spdlog::set_level(spdlog::level::warn);
  std::vector<Phase> phases;
  std::string sqlite_token, pg_token;
  phases.push_back(
      Measure("sqlite-1", "", 1, dir, key_file, body, connections, seconds, sqlite_token));
  for (int n = 1; n <= max_replicas; ++n) {
    phases.push_back(Measure(absl::StrCat("postgres-", n), postgres, n, dir, key_file, body,
                             connections, seconds, pg_token));
  }
  std::printf("%-12s %14s %10s %9s %10s %22s %16s\n", "STORE", "DELIVERIES/S", "RUNS/S", "DRAIN S",
              "REFUSED", "DB ROUND TRIPS/DELIV.", "OF THEM WRITING");
  for (const Phase& p : phases) {
    std::printf("%-12s %14.0f %10.0f %9.2f %10ld %22.1f %16.2f\n", p.name.c_str(),
                p.deliveries_per_s, p.runs_per_s, p.drain_s, p.refused, p.round_trips,
                p.write_round_trips);
  }
  std::printf("postgres-1 / sqlite-1 deliveries/s: %.2f\n",
              phases[1].deliveries_per_s / phases[0].deliveries_per_s);
  std::filesystem::remove_all(dir);
  return 0;
}
