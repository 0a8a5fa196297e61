// Routing by hostname: the interface the container driver uses to give services stable URLs
// through a reverse proxy's API (deploy/caddy_router.h). Route ids are derived from what they
// serve, so a restart can reconcile them.
#ifndef SLIPWAY_DEPLOY_ROUTER_H_
#define SLIPWAY_DEPLOY_ROUTER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace slipway::deploy {

struct Route {
  // Unique; made of [a-z0-9._-].
  std::string id;
  // The hostname it matches, e.g. "pr-62.preview.example.com".
  std::string host;
  // Where it sends requests: "127.0.0.1:40123".
  std::string upstream;
};

// Thread-safe.
class Router {
 public:
  virtual ~Router() = default;
  // Adds the route or replaces the one with the same id. UNAVAILABLE naming the router when it
  // cannot be reached.
  virtual absl::Status Put(const Route& route) = 0;
  // OK when there is no such route.
  virtual absl::Status Remove(const std::string& id) = 0;
  // Every route whose id starts with `prefix`. An error when the answer is incomplete.
  virtual absl::StatusOr<std::vector<Route>> List(const std::string& prefix) = 0;
};

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_ROUTER_H_
