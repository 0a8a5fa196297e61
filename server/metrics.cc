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
