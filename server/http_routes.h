// What slipwayd answers on its HTTP port: Git hosts' webhooks (/hooks/<provider>), generic
// webhook triggers (/hooks/t/<token>), /healthz, /readyz, /metrics, and the browser API
// (the Connect protocol, server/connect_gateway.h). Requests are refused
// from their head where possible (unknown paths, wrong methods, form bodies), before any body
// is read.
#ifndef SLIPWAY_SERVER_HTTP_ROUTES_H_
#define SLIPWAY_SERVER_HTTP_ROUTES_H_

#include <functional>
#include <optional>

#include "server/http_edge.h"

namespace slipway::preview {
class PreviewManager;
}
namespace slipway::storage {
class Database;
}
namespace slipway::trigger {
class WebhookIntake;
struct IntakeResult;
}  // namespace slipway::trigger

namespace slipway::server {

class ConnectGateway;
class Metrics;

// Thread-safe; does not own its collaborators.
class HttpRoutes {
 public:
  struct Deps {
    trigger::WebhookIntake* intake = nullptr;
    Metrics* metrics = nullptr;
    storage::Database* db = nullptr;
    preview::PreviewManager* previews = nullptr;  // may be null
    // The browser API (/slipway.v1.<Service>/<Method>); may be null.
    const ConnectGateway* connect = nullptr;
    // False while slipwayd is starting or draining.
    std::function<bool()> serving;
    // The edge's counters, for /metrics.
    std::function<HttpEdgeStats()> edge_stats;
  };
  explicit HttpRoutes(Deps deps) : deps_(std::move(deps)) {}

  // HttpEdge::HeadCheck: answers /healthz and refusals from the head alone.
  std::optional<HttpResponse> Head(const HttpRequest& head) const;
  // HttpEdge::Handler.
  HttpResponse Handle(HttpRequest& request) const;

 private:
  HttpResponse Hook(HttpRequest& request) const;
  HttpResponse GenericHook(HttpRequest& request) const;
  HttpResponse Ready() const;
  HttpResponse RenderMetrics() const;
  // Counts an answered delivery by provider, signature verdict and status.
  void ObserveDelivery(const trigger::IntakeResult& r) const;

  Deps deps_;
};

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_HTTP_ROUTES_H_
