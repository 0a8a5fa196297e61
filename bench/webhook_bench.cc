// Webhook intake throughput: signed GitHub push deliveries (the shared fixture, each with its
// own delivery id and HMAC-SHA256 signature) over keep-alive connections, against an
// in-process slipwayd (each delivery verified, deduplicated, matched, its run started and
// everything committed durably) and against Debian's `webhook` server configured to verify the
// same HMAC and run a no-op command (answering once the command has started, its default, and
// once it has finished). Then slipwayd at a fixed 1,000 deliveries/s for latency,
// and the time from a delivery's acknowledgement to its run's first node reaching the driver.
// The same load again while 1,000 idle and 1,000 slow-head connections are held open, and (with
// --slipwayd) the peak memory of a separate slipwayd during a 100 MB chunked upload.
//   webhook_bench --fixture F [--webhook-bin /usr/bin/webhook] [--seconds 10] [--connections 8]
//                 [--held-idle 1000] [--held-slow 1000] [--slipwayd build/server/slipwayd]
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "bench/bench_server.h"
#include "bench/noop_driver.h"
#include "common/clock.h"
#include "common/proto_yaml.h"
#include "common/random.h"
#include "deploy/process_driver.h"
#include "deploy/subprocess.h"
#include "server/server.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"
#include "storage/database.h"

namespace {

using Clock = std::chrono::steady_clock;

using slipway::bench::NoopDriver;

struct LoadResult {
  long ok = 0, failed = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
  std::map<std::string, Clock::time_point> acked;  // run id -> ack time
  std::map<std::string, long> failures;            // HTTP status or client error -> count
};

// Sends as fast as possible (rate <= 0) or at `rate` per second in total, for `seconds`.
LoadResult Load(int port, const std::string& path, const std::string& body,
                const std::string& secret, int connections, double seconds, double rate,
                int expect_status) {
  LoadResult total;
  std::mutex mu;
  // Delivery ids are unique across every phase of the run: a repeated id is a duplicate, which
  // is answered 200 without starting anything.
  static std::atomic<long> counter{0};
  auto start = Clock::now();
  auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      LoadResult mine;
      long i = 0;
      while (Clock::now() < end) {
        if (rate > 0) {
          // Open-loop pacing: this connection's share of the rate.
          auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>((i * connections + c) / rate));
          if (due > Clock::now()) std::this_thread::sleep_until(due);
          if (due >= end) break;
        }
        ++i;
        std::string id = path + "-" + std::to_string(rate) + "-" + std::to_string(counter++);
        httplib::Headers h = {
            {"X-GitHub-Event", "push"},
            {"X-GitHub-Delivery", id},
            {"X-Hub-Signature-256", "sha256=" + slipway::HmacSha256Hex(secret, body)}};
        auto t0 = Clock::now();
        auto res = client.Post(path, h, body, "application/json");
        auto t1 = Clock::now();
        if (res && res->status == expect_status) {
          ++mine.ok;
          mine.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
          auto at = res->body.find("\"runs\":[\"");
          if (at != std::string::npos) {
            std::string run = res->body.substr(at + 9, res->body.find('"', at + 9) - at - 9);
            mine.acked[run] = t1;
          }
        } else {
          ++mine.failed;
          ++mine.failures[res ? "status " + std::to_string(res->status)
                              : "error " + httplib::to_string(res.error())];
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      total.ok += mine.ok;
      total.failed += mine.failed;
      total.latencies_ms.insert(total.latencies_ms.end(), mine.latencies_ms.begin(),
                                mine.latencies_ms.end());
      total.acked.insert(mine.acked.begin(), mine.acked.end());
      for (const auto& [what, n] : mine.failures) total.failures[what] += n;
    });
  }
  for (auto& t : threads) t.join();
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return total;
}

// Load against a bare server of the same HTTP library (64 workers, keep-alive) answering
// /hooks/github with `handler`.
LoadResult Bare(const std::string& body, const std::string& secret, int connections, double seconds,
                httplib::Server::Handler handler) {
  httplib::Server bare;
  bare.new_task_queue = [] { return new httplib::ThreadPool(64); };
  bare.set_keep_alive_max_count(1000);
  bare.set_tcp_nodelay(true);
  bare.Post("/hooks/github", std::move(handler));
  int port = bare.bind_to_any_port("127.0.0.1");
  std::thread serve([&bare] { bare.listen_after_bind(); });
  while (!bare.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  LoadResult r = Load(port, "/hooks/github", body, secret, connections, seconds, 0, 200);
  bare.stop();
  serve.join();
  return r;
}

using slipway::bench::Percentile;

int Connect(int port, const std::string& source) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &local.sin_addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
      errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Holds `idle` connections that send nothing and `slow` ones that send one byte of a head that
// never ends each second, from 100 connections per loopback address (127.0.<k>.<j>), and opens
// each again when the server cuts it. Stops when destroyed.
class Holder {
 public:
  Holder(int port, int idle, int slow) : port_(port) {
    for (int i = 0; i < idle + slow; ++i) {
      conns_.push_back(
          {-1, i >= idle, 0,
           "127.0." + std::to_string(10 + i / 25000) + "." + std::to_string(1 + (i / 100) % 250)});
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~Holder() {
    stop_ = true;
    thread_.join();
    for (auto& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
    }
  }
  long reopened() const { return reopened_; }
  int open() const { return open_; }
  // Mean connections open between StartSampling and now.
  void StartSampling() { sampling_ = true; }
  double mean_open() const { return samples_ > 0 ? double(open_sum_) / samples_ : 0; }

 private:
  struct Conn {
    int fd;
    bool slow;
    size_t sent;
    std::string source;
  };
  void Run() {
    static const std::string head = "POST /hooks/github HTTP/1.1\r\nHost: bench\r\nX-Slow: ";
    auto next_drip = Clock::now();
    std::vector<pollfd> fds(conns_.size());
    while (!stop_) {
      // (Re)open what is closed, then sleep in poll until the server closes one or a drip is
      // due: the holder itself costs little CPU beside the server.
      int open = 0;
      for (size_t i = 0; i < conns_.size(); ++i) {
        Conn& c = conns_[i];
        if (c.fd < 0) {
          c.fd = Connect(port_, c.source);
          c.sent = 0;
        }
        open += c.fd >= 0 ? 1 : 0;
        fds[i] = {c.fd, POLLIN, 0};
      }
      open_ = open;
      if (sampling_) {
        open_sum_ += open;
        ++samples_;
      }
      int wait_ms = static_cast<int>(std::max<int64_t>(
          0,
          std::chrono::duration_cast<std::chrono::milliseconds>(next_drip - Clock::now()).count()));
      ::poll(fds.data(), fds.size(), std::min(wait_ms, 100));
      for (size_t i = 0; i < conns_.size(); ++i) {
        Conn& c = conns_[i];
        if (c.fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        char buf[512];
        ssize_t n = ::recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) continue;
        ::close(c.fd);
        c.fd = -1;
        ++reopened_;
      }
      if (Clock::now() >= next_drip) {
        for (auto& c : conns_) {
          if (c.fd < 0 || !c.slow) continue;
          char byte = c.sent < head.size() ? head[c.sent] : 'x';
          if (::send(c.fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) ++c.sent;
        }
        next_drip += std::chrono::seconds(1);
      }
    }
  }
  const int port_;
  std::vector<Conn> conns_;
  std::atomic<bool> stop_{false};
  std::atomic<long> reopened_{0};
  std::atomic<int> open_{0};
  std::atomic<bool> sampling_{false};
  std::atomic<long> open_sum_{0}, samples_{0};
  std::thread thread_;
};

// Peak resident memory of a separate slipwayd while one unsigned client uploads `bytes` as a
// chunked body: {idle RSS, peak RSS, status answered} in MiB. Zeros if it cannot start.
struct UploadResult {
  double idle_rss_mib = 0, peak_rss_mib = 0;
  int status = 0;
  size_t sent = 0;
};

double ProcMib(int pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(std::strlen(field))) / 1024.0;
  }
  return 0;
}

UploadResult ChunkedUpload(const std::string& slipwayd, const std::string& dir, size_t bytes) {
  UploadResult r;
  const std::string data = dir + "/upload-daemon";
  slipway::deploy::SpawnOptions spawn{{slipwayd, "--data-dir", data, "--grpc-listen", "127.0.0.1:0",
                                       "--http-listen", "127.0.0.1:0"},
                                      slipway::deploy::BaseEnvironment(),
                                      dir,
                                      dir + "/upload.log"};
  auto pid = slipway::deploy::Spawn(spawn);
  if (!pid.ok()) return r;
  int port = 0;
  for (int i = 0; i < 200 && port == 0; ++i) {
    std::ifstream in(data + "/endpoints.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string key = "\"http\": \"127.0.0.1:";
    auto at = text.find(key);
    if (at != std::string::npos) port = std::atoi(text.c_str() + at + key.size());
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (port != 0) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    r.idle_rss_mib = ProcMib(*pid, "VmRSS:");
    int fd = Connect(port, "127.0.0.1");
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    pollfd w{fd, POLLOUT, 0};
    ::poll(&w, 1, 2000);
    std::string head =
        "POST /hooks/github HTTP/1.1\r\nHost: bench\r\nX-GitHub-Event: push\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    const std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
    std::string answer;
    while (r.sent < bytes) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) break;
      if (::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) <= 0) break;
      r.sent += chunk.size();
    }
    if (r.sent >= bytes) ::send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) > 0) {
      char buf[256];
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n > 12) r.status = std::atoi(buf + 9);
    }
    ::close(fd);
    r.peak_rss_mib = ProcMib(*pid, "VmHWM:");
  }
  slipway::deploy::StopProcessGroup(*pid, absl::Seconds(5));
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"webhook_bench"};
  std::string fixture, webhook_bin = "/usr/bin/webhook";
  double seconds = 10;
  int connections = 8;
  app.add_option("--fixture", fixture)->required();
  app.add_option("--webhook-bin", webhook_bin);
  app.add_option("--seconds", seconds);
  app.add_option("--connections", connections);
  int held_idle = 1000, held_slow = 1000;
  std::string slipwayd_bin;
  slipway::server::HttpEdgeOptions http;
  app.add_option("--io-threads", http.io_threads, "slipwayd's HTTP I/O threads (default 2)");
  app.add_option("--held-idle", held_idle, "Idle connections held during the held-load phase");
  app.add_option("--held-slow", held_slow, "Slow-head connections held during that phase");
  app.add_option("--slipwayd", slipwayd_bin,
                 "slipwayd binary: measure its peak RSS during a 100 MB chunked upload");
  CLI11_PARSE(app, argc, argv);
  std::ifstream in(fixture, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string body = ss.str();
  const std::string secret = "bench-secret";

  auto bench = slipway::bench::BenchServer::Start("webhook-bench", http);
  if (bench == nullptr) return 1;
  const std::string dir = bench->dir();
  NoopDriver& noop = bench->noop();
  if (!bench->Apply(slipway::bench::kPushPipeline)) return 1;

  // Debian's webhook server: verify the same HMAC, run /bin/true. By default it answers once
  // the command has started; with `wait_for_command` (include-command-output-in-response) once
  // it has finished. Empty result if the server cannot be started.
  auto run_webhook = [&](bool wait_for_command) -> LoadResult {
    auto port = slipway::deploy::AllocatePort();
    if (!port.ok()) return {};
    const std::string hooks = dir + (wait_for_command ? "/hooks-wait.json" : "/hooks.json");
    std::ofstream(hooks)
        << R"([{"id": "push", "execute-command": "/bin/true", )"
        << (wait_for_command ? R"("include-command-output-in-response": true, )" : "")
        << R"("trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": ")" << secret
        << R"(", "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}}])";
    slipway::deploy::SpawnOptions spawn{
        {webhook_bin, "-hooks", hooks, "-ip", "127.0.0.1", "-port", std::to_string(*port)},
        slipway::deploy::BaseEnvironment(),
        dir,
        dir + "/webhook.log"};
    auto pid = slipway::deploy::Spawn(spawn);
    if (!pid.ok()) return {};
    for (int i = 0; i < 100; ++i) {
      httplib::Client probe("127.0.0.1", *port);
      if (probe.Get("/")) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    LoadResult r = Load(*port, "/hooks/push", body, secret, connections, seconds, 0, 200);
    slipway::deploy::StopProcessGroup(*pid, absl::Seconds(2));
    return r;
  };

  // A short warm-up first (the database and its WAL grow to their working size, allocator
  // arenas fill), so that the unloaded and held phases compare like with like.
  LoadResult warm = Load(bench->http_port(), "/hooks/github", body, secret, connections,
                         std::min(3.0, seconds), 0, 200);
  while (noop.applies() < warm.ok) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const long warm_ok = warm.ok;
  LoadResult slip =
      Load(bench->http_port(), "/hooks/github", body, secret, connections, seconds, 0, 200);
  // Runs still queued in the executor when the load stops are worked off before anything else
  // is measured, and the time it takes is reported: the deliveries/s figure is then not one
  // that defers the runs' work to later phases.
  auto drain_start = Clock::now();
  while (noop.applies() < warm_ok + slip.ok &&
         Clock::now() < drain_start + std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double drain_s = std::chrono::duration<double>(Clock::now() - drain_start).count();
  const int deployed_after_load = noop.applies() - static_cast<int>(warm_ok);
  // The ceiling of this machine and load generator: the same HTTP library, 64 workers, a
  // handler that only checks the HMAC and answers (nothing parsed, stored or run).
  auto verify = [&secret](const httplib::Request& req) {
    return slipway::ConstantTimeEquals(req.get_header_value("X-Hub-Signature-256"),
                                       "sha256=" + slipway::HmacSha256Hex(secret, req.body));
  };
  LoadResult ceiling = Bare(body, secret, connections, seconds,
                            [&](const httplib::Request& req, httplib::Response& res) {
                              res.status = verify(req) ? 200 : 401;
                              res.set_content("{}", "application/json");
                            });
  // The ceiling of any durable intake here: the same, plus one row per delivery (its id)
  // committed through Slipway's group commit with SQLite's full fsync, before the answer.
  // Nothing parsed, matched or run.
  LoadResult durable;
  {
    auto db = slipway::storage::Database::Open({dir + "/commit-only.db"});
    absl::Status made =
        db.ok() ? (*db)->Write([](slipway::storage::Transaction& tx) -> absl::Status {
          auto st =
              tx.Prepare("CREATE TABLE received (id TEXT PRIMARY KEY, bytes INTEGER NOT NULL)");
          return st.ok() ? (*st)->Run() : st.status();
        })
                : db.status();
    if (!made.ok()) {
      std::fprintf(stderr, "commit-only database: %s\n", std::string(made.message()).c_str());
      return 1;
    }
    durable = Bare(body, secret, connections, seconds,
                   [&](const httplib::Request& req, httplib::Response& res) {
                     if (!verify(req)) {
                       res.status = 401;
                       return;
                     }
                     absl::Status s =
                         (*db)->Write([&](slipway::storage::Transaction& tx) -> absl::Status {
                           auto st = tx.Prepare("INSERT INTO received (id, bytes) VALUES (?, ?)");
                           if (!st.ok()) return st.status();
                           (*st)
                               ->Bind(1, req.get_header_value("X-GitHub-Delivery"))
                               .Bind(2, static_cast<int64_t>(req.body.size()));
                           return (*st)->Run();
                         });
                     res.status = s.ok() ? 200 : 500;
                     res.set_content("{}", "application/json");
                   });
  }
  // The same load while idle and slow clients hold connections open all along.
  LoadResult held;
  int held_open = 0;
  long held_reopened = 0;
  {
    Holder holder(bench->http_port(), held_idle, held_slow);
    auto wait_until = Clock::now() + std::chrono::seconds(10);
    while (holder.open() < (held_idle + held_slow) * 95 / 100 && Clock::now() < wait_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    holder.StartSampling();
    held = Load(bench->http_port(), "/hooks/github", body, secret, connections, seconds, 0, 200);
    held_open = static_cast<int>(holder.mean_open());
    held_reopened = holder.reopened();
  }
  auto held_drain = Clock::now();
  while (noop.applies() < warm_ok + slip.ok + held.ok &&
         Clock::now() < held_drain + std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  UploadResult upload;
  if (!slipwayd_bin.empty()) {
    upload = ChunkedUpload(std::filesystem::absolute(slipwayd_bin), dir, size_t{100} << 20);
  }
  LoadResult other = run_webhook(false);
  LoadResult waiting = run_webhook(true);
  LoadResult paced =
      Load(bench->http_port(), "/hooks/github", body, secret, connections, seconds, 1000, 200);
  // Let the executor catch up (up to a minute), then match acknowledgements with first
  // driver calls.
  std::map<std::string, Clock::time_point> first;
  auto give_up = Clock::now() + std::chrono::seconds(60);
  size_t reached = 0;
  while (Clock::now() < give_up) {
    first = noop.first();
    reached = 0;
    for (const auto& [run, acked] : paced.acked) reached += first.contains(run) ? 1 : 0;
    if (reached == paced.acked.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::vector<double> to_running;
  for (const auto& [run, acked] : paced.acked) {
    auto it = first.find(run);
    if (it != first.end()) {
      to_running.push_back(std::chrono::duration<double, std::milli>(it->second - acked).count());
    }
  }
  std::fprintf(stderr,
               "slipwayd at full load: acknowledgement p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
               Percentile(slip.latencies_ms, 0.5), Percentile(slip.latencies_ms, 0.99),
               Percentile(slip.latencies_ms, 1.0));
  std::fprintf(stderr,
               "slipwayd holding %d idle + %d slow connections (%d open on average, %ld reopened "
               "after the server cut them): %.0f/s, acknowledgement p50 %.2f ms, p99 %.2f ms\n",
               held_idle, held_slow, held_open, held_reopened, held.ok / held.seconds,
               Percentile(held.latencies_ms, 0.5), Percentile(held.latencies_ms, 0.99));
  if (!slipwayd_bin.empty()) {
    std::fprintf(stderr,
                 "slipwayd during a 100 MB chunked upload: idle RSS %.1f MiB, peak RSS %.1f MiB, "
                 "answered %d after %zu bytes sent\n",
                 upload.idle_rss_mib, upload.peak_rss_mib, upload.status, upload.sent);
  }
  for (const auto* r : {&slip, &held, &other, &waiting, &paced}) {
    for (const auto& [what, n] : r->failures) {
      std::fprintf(stderr, "%s: %ld failed with %s\n",
                   r == &other     ? "webhook"
                   : r == &waiting ? "webhook waiting for its command"
                   : r == &paced   ? "slipwayd paced"
                   : r == &held    ? "slipwayd holding connections"
                                   : "slipwayd",
                   n, what.c_str());
    }
  }
  std::printf(
      "{\"verify_only_ceiling_per_s\": %.0f, \"verify_and_commit_ceiling_per_s\": %.0f, "
      "\"slipwayd_deliveries_per_s\": %.0f, \"slipwayd_ok\": %ld, \"slipwayd_failed\": %ld, "
      "\"webhook_deliveries_per_s\": %.0f, \"webhook_ok\": %ld, \"webhook_failed\": %ld, "
      "\"ratio\": %.2f, \"webhook_waiting_deliveries_per_s\": %.0f, \"ratio_to_waiting\": %.2f, "
      "\"paced_rate_per_s\": %.0f, \"paced_ack_p50_ms\": %.2f, "
      "\"paced_ack_p99_ms\": %.2f, \"delivery_to_first_node_p50_ms\": %.2f, "
      "\"delivery_to_first_node_p99_ms\": %.2f, \"runs_matched\": %zu, \"paced_runs\": %zu, "
      "\"runs_deployed_after_load\": %d, \"executor_catch_up_s\": %.3f, "
      "\"ratio_to_commit_ceiling\": %.2f, \"held_idle\": %d, \"held_slow\": %d, "
      "\"held_open_mean\": %d, \"held_reopened\": %ld, \"held_deliveries_per_s\": %.0f, "
      "\"held_ratio_to_unloaded\": %.2f, \"held_ack_p99_ms\": %.2f, \"held_failed\": %ld, "
      "\"upload_idle_rss_mib\": %.1f, \"upload_peak_rss_mib\": %.1f, \"upload_status\": %d}\n",
      ceiling.ok / ceiling.seconds, durable.ok / durable.seconds, slip.ok / slip.seconds, slip.ok,
      slip.failed, other.ok / std::max(other.seconds, 1e-9), other.ok, other.failed,
      other.ok > 0 ? (slip.ok / slip.seconds) / (other.ok / other.seconds) : 0,
      waiting.ok / std::max(waiting.seconds, 1e-9),
      waiting.ok > 0 ? (slip.ok / slip.seconds) / (waiting.ok / waiting.seconds) : 0,
      paced.ok / paced.seconds, Percentile(paced.latencies_ms, 0.5),
      Percentile(paced.latencies_ms, 0.99), Percentile(to_running, 0.5),
      Percentile(to_running, 0.99), to_running.size(), paced.acked.size(), deployed_after_load,
      drain_s, durable.ok > 0 ? (slip.ok / slip.seconds) / (durable.ok / durable.seconds) : 0,
      held_idle, held_slow, held_open, held_reopened, held.ok / held.seconds,
      slip.ok > 0 ? (held.ok / held.seconds) / (slip.ok / slip.seconds) : 0,
      Percentile(held.latencies_ms, 0.99), held.failed, upload.idle_rss_mib, upload.peak_rss_mib,
      upload.status);
  return 0;
}
