#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <utility>

#include "absl/synchronization/mutex.h"

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
  prometheus::Family<prometheus::Counter>& http =
      prometheus::BuildCounter()
          .Name("slipway_http_requests_total")
          .Help("HTTP requests handled, by path and status.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& info = prometheus::BuildGauge()
                                                    .Name("slipway_build_info")
                                                    .Help("Always 1; labels describe the build.")
                                                    .Register(*registry);

  // Looked up once per label set; Family::Add takes a lock and hashes labels, so cache.
  absl::Mutex mu;
  std::map<std::pair<std::string, std::string>, prometheus::Counter*> rpc_counters
      ABSL_GUARDED_BY(mu);
  std::map<std::string, prometheus::Histogram*> histograms ABSL_GUARDED_BY(mu);
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {
  impl_->info.Add({{"version", "0.1.0"}}).Set(1);
}

Metrics::~Metrics() = default;

void Metrics::ObserveRpc(std::string_view method, std::string_view code, double seconds) {
  prometheus::Counter* counter;
  prometheus::Histogram* histogram;
  {
    absl::MutexLock lock(&impl_->mu);
    auto key = std::make_pair(std::string(method), std::string(code));
    auto it = impl_->rpc_counters.find(key);
    if (it == impl_->rpc_counters.end()) {
      it = impl_->rpc_counters
               .emplace(key, &impl_->rpcs.Add({{"method", key.first}, {"code", key.second}}))
               .first;
    }
    counter = it->second;
    auto hit = impl_->histograms.find(key.first);
    if (hit == impl_->histograms.end()) {
      static const prometheus::Histogram::BucketBoundaries kBuckets = {
          0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
          2.5,    5,       10};
      hit = impl_->histograms
                .emplace(key.first, &impl_->latency.Add({{"method", key.first}}, kBuckets))
                .first;
    }
    histogram = hit->second;
  }
  counter->Increment();
  histogram->Observe(seconds);
}

void Metrics::ObserveHttp(std::string_view path, int status) {
  impl_->http.Add({{"path", std::string(path)}, {"code", std::to_string(status)}}).Increment();
}

std::string Metrics::Render() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace slipway::server
