// Prometheus metrics of slipwayd: per-RPC request counters and latency histograms (streams
// apart), HTTP request counters, build info, and the standard process_* metrics (CPU, memory,
// open fds, start time), rendered in the text exposition format for /metrics.
#ifndef SLIPWAY_SERVER_METRICS_H_
#define SLIPWAY_SERVER_METRICS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prometheus {
class Registry;
}

namespace slipway::server {

// Thread-safe.
class Metrics {
 public:
  Metrics();
  ~Metrics();

  // Records one finished RPC: `method` is the full method name ("/slipway.v1.PipelineService/
  // GetPipeline"), `code` the numeric gRPC status code (labelled by name, "NOT_FOUND"). The
  // time goes to slipway_grpc_request_duration_seconds, or for a stream (a Watch method) to
  // slipway_grpc_stream_duration_seconds.
  // Called on every RPC: after the first call per method and code it takes only a reader lock.
  void ObserveRpc(std::string_view method, int code, double seconds);
  void ObserveHttp(std::string_view path, int status);
  // Live preview environments by state ("ready", "creating", ...): sets the gauge
  // slipway_previews{state}; states not given are set to 0.
  void SetPreviewCounts(const std::map<std::string, int>& by_state);
  // The HTTP edge's counters as they stand now (HttpEdgeStats): open connections and buffered
  // bytes become gauges, refusals by reason the counter slipway_http_rejected_total{reason}.
  void SetHttpEdge(int64_t connections, int64_t buffered_bytes,
                   const std::map<std::string, int64_t>& rejected);
  // A run record as committed: the first time a run is seen counts it started
  // (slipway_runs_started_total{pipeline,stage,kind}); an ended state counts it ended
  // (slipway_runs_ended_total{pipeline,stage,kind,outcome}), with its duration
  // (slipway_run_duration_seconds{kind,outcome}, `seconds` < 0 if unknown), and a rollback
  // also in slipway_rollbacks_total{pipeline,stage,outcome} (a succeeded one places a hold:
  // slipway_holds_placed_total{cause="rollback"}). When the run is counted ended, the durations
  // of its nodes that ran go to slipway_node_duration_seconds{outcome}. Kinds and outcomes are
  // the short enum names ("release", "succeeded"). Runs resumed after a restart count as
  // started again.
  void ObserveRun(const std::string& id, const std::string& pipeline, const std::string& stage,
                  const std::string& kind, const std::string& state, bool ended, double seconds,
                  const std::vector<std::pair<std::string, double>>& node_durations = {});
  // A hold placed on a stage by hand (cause "manual"), or lifted.
  void ObserveHoldPlaced(const std::string& pipeline, const std::string& stage,
                         const std::string& cause);
  void ObserveHoldLifted(const std::string& pipeline, const std::string& stage);
  // Stages held now: the gauge slipway_stages_held.
  void SetStagesHeld(int64_t count);
  // A webhook delivery answered: slipway_webhook_deliveries_total{provider,verdict,status},
  // short enum names and the HTTP status code.
  void ObserveDelivery(const std::string& provider, const std::string& verdict, int status);
  // A preview environment's state changed: slipway_preview_transitions_total{from,to}.
  void ObservePreviewTransition(const std::string& from, const std::string& to);
  void ObserveRelease(const std::string& pipeline, const std::string& stage);
  // One executor commit: events written, how long the write took, active runs after it.
  void ObserveCommit(size_t events, double seconds, size_t active_runs);
  // Deliveries whose record was not stored because their client passed the rate of rejected
  // deliveries that are recorded.
  void SetUnrecordedRejections(int64_t total);
  // The text exposition format.
  std::string Render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_METRICS_H_
