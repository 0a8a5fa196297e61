#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/version.h"

namespace slipway::server {

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& rpcs =
      prometheus::BuildCounter()
          .Name("slipway_grpc_requests_total")
          .Help("gRPC requests handled, by method and status code.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& latency =
      prometheus::BuildHistogram()
          .Name("slipway_grpc_request_duration_seconds")
          .Help("Time spent handling gRPC requests, by method.")
          .Register(*registry);
  // Streams (WatchRun, WatchResourceLogs) last as long as what they follow: kept apart, so
  // the unary histogram's quantiles describe request handling.
  prometheus::Family<prometheus::Histogram>& stream_duration =
      prometheus::BuildHistogram()
          .Name("slipway_grpc_stream_duration_seconds")
          .Help("How long server-streaming gRPC calls stayed open, by method.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& http =
      prometheus::BuildCounter()
          .Name("slipway_http_requests_total")
          .Help("HTTP requests handled, by path and status.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& info = prometheus::BuildGauge()
                                                    .Name("slipway_build_info")
                                                    .Help("Always 1; labels describe the build.")
                                                    .Register(*registry);

  prometheus::Family<prometheus::Gauge>& previews =
      prometheus::BuildGauge()
          .Name("slipway_previews")
          .Help("Live preview environments, by state.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& http_connections = prometheus::BuildGauge()
                                                                .Name("slipway_http_connections")
                                                                .Help("HTTP connections open now.")
                                                                .Register(*registry);
  prometheus::Family<prometheus::Gauge>& http_buffered =
      prometheus::BuildGauge()
          .Name("slipway_http_buffered_bytes")
          .Help("Bytes of HTTP requests held in memory now (heads and bodies).")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& http_rejected =
      prometheus::BuildCounter()
          .Name("slipway_http_rejected_total")
          .Help("HTTP requests and connections refused or cut by a bound, by reason.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& unrecorded =
      prometheus::BuildCounter()
          .Name("slipway_webhook_rejections_unrecorded_total")
          .Help("Rejected deliveries counted but not stored: their client passed the rate.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& runs_started =
      prometheus::BuildCounter()
          .Name("slipway_runs_started_total")
          .Help("Runs started, by pipeline, stage and kind.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& runs_ended =
      prometheus::BuildCounter()
          .Name("slipway_runs_ended_total")
          .Help("Runs ended, by pipeline, stage, kind and outcome.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& run_duration =
      prometheus::BuildHistogram()
          .Name("slipway_run_duration_seconds")
          .Help("From a run's start to its end, by kind and outcome.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& rollbacks =
      prometheus::BuildCounter()
          .Name("slipway_rollbacks_total")
          .Help("Rollback runs ended, by pipeline, stage and outcome.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& releases =
      prometheus::BuildCounter()
          .Name("slipway_releases_total")
          .Help("Releases recorded, by pipeline and stage.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& commit_events =
      prometheus::BuildHistogram()
          .Name("slipway_executor_commit_events")
          .Help("Run events written per executor commit (group commit batch size).")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& commit_duration =
      prometheus::BuildHistogram()
          .Name("slipway_executor_commit_duration_seconds")
          .Help("How long an executor commit's write took.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& active_runs =
      prometheus::BuildGauge()
          .Name("slipway_executor_active_runs")
          .Help("Runs the executor holds: queued, running, waiting or ending.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& node_duration =
      prometheus::BuildHistogram()
          .Name("slipway_node_duration_seconds")
          .Help(
              "From a flow node's first attempt to its end, by outcome; observed as its run ends.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& holds_placed =
      prometheus::BuildCounter()
          .Name("slipway_holds_placed_total")
          .Help("Holds placed on stages, by pipeline, stage and cause (rollback, manual).")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& holds_lifted =
      prometheus::BuildCounter()
          .Name("slipway_holds_lifted_total")
          .Help("Holds lifted by ReleaseHold, by pipeline and stage.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& stages_held = prometheus::BuildGauge()
                                                           .Name("slipway_stages_held")
                                                           .Help("Stages held now.")
                                                           .Register(*registry);
  prometheus::Family<prometheus::Counter>& deliveries =
      prometheus::BuildCounter()
          .Name("slipway_webhook_deliveries_total")
          .Help("Webhook deliveries answered, by provider, signature verdict and HTTP status.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& preview_transitions =
      prometheus::BuildCounter()
          .Name("slipway_preview_transitions_total")
          .Help("Preview environment state changes, by state before and after.")
          .Register(*registry);
  // Runs seen and not yet ended, to count each start once (bounded by the active runs).
  absl::flat_hash_set<std::string> started ABSL_GUARDED_BY(mu);
  // Runs counted as ended, so that a later write of an ended record is not counted again.
  absl::flat_hash_set<std::string> ended ABSL_GUARDED_BY(mu);
  // Counters mirrored from totals kept elsewhere: what was already added, by series.
  std::map<std::string, int64_t> mirrored ABSL_GUARDED_BY(mu);
  // Family::Add takes a lock and hashes the labels, so each method's series are looked up
  // once and kept here.
  struct MethodSeries {
    prometheus::Histogram* latency = nullptr;
    std::array<prometheus::Counter*, 17> by_code{};
  };
  absl::Mutex mu;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodSeries>> methods ABSL_GUARDED_BY(mu);
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {
  impl_->info.Add({{"version", Version()}}).Set(1);
}

Metrics::~Metrics() = default;

void Metrics::ObserveRpc(std::string_view method, int code, double seconds) {
  if (code < 0 || code > 16) code = 2;  // UNKNOWN
  absl::string_view key(method.data(), method.size());
  prometheus::Counter* counter = nullptr;
  prometheus::Histogram* histogram = nullptr;
  {
    absl::ReaderMutexLock lock(&impl_->mu);
    auto it = impl_->methods.find(key);
    if (it != impl_->methods.end()) {
      histogram = it->second->latency;
      counter = it->second->by_code[code];
    }
  }
  if (counter == nullptr) {
    absl::MutexLock lock(&impl_->mu);
    auto& series = impl_->methods[key];
    if (series == nullptr) {
      static const prometheus::Histogram::BucketBoundaries kBuckets = {
          0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
      static const prometheus::Histogram::BucketBoundaries kStreamBuckets = {
          0.1, 1, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600};
      series = std::make_unique<Impl::MethodSeries>();
      const bool streaming = method.find("/Watch") != std::string_view::npos;
      series->latency =
          streaming ? &impl_->stream_duration.Add({{"method", std::string(method)}}, kStreamBuckets)
                    : &impl_->latency.Add({{"method", std::string(method)}}, kBuckets);
    }
    if (series->by_code[code] == nullptr) {
      series->by_code[code] = &impl_->rpcs.Add(
          {{"method", std::string(method)},
           {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}});
    }
    histogram = series->latency;
    counter = series->by_code[code];
  }
  counter->Increment();
  histogram->Observe(seconds);
}

void Metrics::ObserveRun(const std::string& id, const std::string& pipeline,
                         const std::string& stage, const std::string& kind,
                         const std::string& state, bool ended, double seconds,
                         const std::vector<std::pair<std::string, double>>& node_durations) {
  absl::MutexLock lock(&impl_->mu);
  if (!ended) {
    if (impl_->started.size() >= 100'000) impl_->started.clear();  // a bound, not a case
    if (impl_->started.insert(id).second) {
      impl_->runs_started.Add({{"pipeline", pipeline}, {"stage", stage}, {"kind", kind}})
          .Increment();
    }
    return;
  }
  if (impl_->ended.contains(id)) return;
  if (impl_->ended.size() >= 10'000) impl_->ended.clear();
  impl_->ended.insert(id);
  // A run that ends in the commit that creates it (skipped, refused) started too.
  if (impl_->started.erase(id) == 0) {
    impl_->runs_started.Add({{"pipeline", pipeline}, {"stage", stage}, {"kind", kind}}).Increment();
  }
  impl_->runs_ended
      .Add({{"pipeline", pipeline}, {"stage", stage}, {"kind", kind}, {"outcome", state}})
      .Increment();
  if (kind == "rollback") {
    impl_->rollbacks.Add({{"pipeline", pipeline}, {"stage", stage}, {"outcome", state}})
        .Increment();
    if (state == "succeeded") {
      impl_->holds_placed.Add({{"pipeline", pipeline}, {"stage", stage}, {"cause", "rollback"}})
          .Increment();
    }
  }
  static const prometheus::Histogram::BucketBoundaries kNodeBuckets = {
      0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600};
  for (const auto& [outcome, node_seconds] : node_durations) {
    impl_->node_duration.Add({{"outcome", outcome}}, kNodeBuckets).Observe(node_seconds);
  }
  if (seconds >= 0) {
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600};
    impl_->run_duration.Add({{"kind", kind}, {"outcome", state}}, kBuckets).Observe(seconds);
  }
}

void Metrics::ObserveHoldPlaced(const std::string& pipeline, const std::string& stage,
                                const std::string& cause) {
  impl_->holds_placed.Add({{"pipeline", pipeline}, {"stage", stage}, {"cause", cause}}).Increment();
}

void Metrics::ObserveHoldLifted(const std::string& pipeline, const std::string& stage) {
  impl_->holds_lifted.Add({{"pipeline", pipeline}, {"stage", stage}}).Increment();
}

void Metrics::SetStagesHeld(int64_t count) {
  impl_->stages_held.Add({}).Set(static_cast<double>(count));
}

void Metrics::ObserveDelivery(const std::string& provider, const std::string& verdict, int status) {
  impl_->deliveries
      .Add({{"provider", provider}, {"verdict", verdict}, {"status", std::to_string(status)}})
      .Increment();
}

void Metrics::ObservePreviewTransition(const std::string& from, const std::string& to) {
  impl_->preview_transitions.Add({{"from", from}, {"to", to}}).Increment();
}

void Metrics::ObserveRelease(const std::string& pipeline, const std::string& stage) {
  impl_->releases.Add({{"pipeline", pipeline}, {"stage", stage}}).Increment();
}

void Metrics::ObserveCommit(size_t events, double seconds, size_t active_runs) {
  static const prometheus::Histogram::BucketBoundaries kSizes = {1,  2,   4,   8,   16,  32,
                                                                 64, 128, 256, 512, 1024};
  static const prometheus::Histogram::BucketBoundaries kSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  impl_->commit_events.Add({}, kSizes).Observe(static_cast<double>(events));
  impl_->commit_duration.Add({}, kSeconds).Observe(seconds);
  impl_->active_runs.Add({}).Set(static_cast<double>(active_runs));
}

void Metrics::ObserveHttp(std::string_view path, int status) {
  impl_->http.Add({{"path", std::string(path)}, {"code", std::to_string(status)}}).Increment();
}

void Metrics::SetPreviewCounts(const std::map<std::string, int>& by_state) {
  absl::MutexLock lock(&impl_->mu);
  for (const char* state : {"queued", "creating", "ready", "updating", "failed", "paused",
                            "tearing_down", "teardown_failed"}) {
    auto it = by_state.find(state);
    impl_->previews.Add({{"state", state}}).Set(it == by_state.end() ? 0 : it->second);
  }
}

void Metrics::SetHttpEdge(int64_t connections, int64_t buffered_bytes,
                          const std::map<std::string, int64_t>& rejected) {
  absl::MutexLock lock(&impl_->mu);
  impl_->http_connections.Add({}).Set(static_cast<double>(connections));
  impl_->http_buffered.Add({}).Set(static_cast<double>(buffered_bytes));
  for (const auto& [reason, total] : rejected) {
    int64_t& seen = impl_->mirrored["rejected:" + reason];
    impl_->http_rejected.Add({{"reason", reason}}).Increment(static_cast<double>(total - seen));
    seen = total;
  }
}

void Metrics::SetUnrecordedRejections(int64_t total) {
  absl::MutexLock lock(&impl_->mu);
  int64_t& seen = impl_->mirrored["unrecorded"];
  impl_->unrecorded.Add({}).Increment(static_cast<double>(total - seen));
  seen = total;
}

namespace {

// The standard process metrics (as Prometheus' client libraries name them), read from /proc at
// each scrape. Empty where /proc cannot be read.
std::string ProcessMetrics() {
  std::string out;
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  size_t close = stat.rfind(')');
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (close != std::string::npos && ticks > 0) {
    std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
    // f[0] is field 3 (state): utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
    double utime = 0, stime = 0, start_ticks = 0, vsize = 0, rss = 0;
    if (f.size() > 21 && absl::SimpleAtod(f[11], &utime) && absl::SimpleAtod(f[12], &stime) &&
        absl::SimpleAtod(f[19], &start_ticks) && absl::SimpleAtod(f[20], &vsize) &&
        absl::SimpleAtod(f[21], &rss)) {
      double boot = 0;
      std::ifstream stat_all("/proc/stat");
      for (std::string line; std::getline(stat_all, line);) {
        if (line.rfind("btime ", 0) == 0) (void)absl::SimpleAtod(line.substr(6), &boot);
      }
      absl::StrAppend(
          &out,
          "# HELP process_cpu_seconds_total User and system CPU time spent, in seconds.\n"
          "# TYPE process_cpu_seconds_total counter\n"
          "process_cpu_seconds_total ",
          (utime + stime) / static_cast<double>(ticks), "\n",
          "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
          "# TYPE process_resident_memory_bytes gauge\n"
          "process_resident_memory_bytes ",
          rss * static_cast<double>(page), "\n",
          "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
          "# TYPE process_virtual_memory_bytes gauge\n"
          "process_virtual_memory_bytes ",
          vsize, "\n");
      if (boot > 0) {
        absl::StrAppend(&out,
                        "# HELP process_start_time_seconds Start time of the process since the "
                        "Unix epoch, in seconds.\n"
                        "# TYPE process_start_time_seconds gauge\n"
                        "process_start_time_seconds ",
                        absl::StrFormat("%.2f", boot + start_ticks / static_cast<double>(ticks)),
                        "\n");
      }
    }
  }
  std::error_code ec;
  int64_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  if (!ec) {
    absl::StrAppend(&out,
                    "# HELP process_open_fds Number of open file descriptors.\n"
                    "# TYPE process_open_fds gauge\n"
                    "process_open_fds ",
                    fds, "\n");
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    absl::StrAppend(&out,
                    "# HELP process_max_fds Maximum number of open file descriptors.\n"
                    "# TYPE process_max_fds gauge\n"
                    "process_max_fds ",
                    static_cast<int64_t>(limit.rlim_cur), "\n");
  }
  return out;
}

}  // namespace

std::string Metrics::Render() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect()) + ProcessMetrics();
}

}  // namespace slipway::server
