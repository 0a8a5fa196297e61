// A Router over Caddy's admin API: each route is an object with its own "@id" in one HTTP
// server's route list, matched by host and proxied to the service's 127.0.0.1 port.
#ifndef SLIPWAY_DEPLOY_CADDY_ROUTER_H_
#define SLIPWAY_DEPLOY_CADDY_ROUTER_H_

#include <string>

#include "deploy/router.h"
#include "deploy/unix_http.h"

namespace slipway::deploy {

class CaddyRouter final : public Router {
 public:
  // `admin`: "http://127.0.0.1:2019" (the admin API listens on loopback). `server`: the name of the
  // HTTP server in Caddy's config whose routes Slipway manages ("previews" unless configured).
  CaddyRouter(const std::string& admin, std::string server);

  absl::Status Put(const Route& route) override;
  absl::Status Remove(const std::string& id) override;
  absl::StatusOr<std::vector<Route>> List(const std::string& prefix) override;

 private:
  absl::StatusOr<UnixHttpResponse> Call(const std::string& method, const std::string& target,
                                        const std::string& body, const std::string& what);
  absl::Status Refused(const std::string& what, const UnixHttpResponse& r) const;

  std::string admin_;
  std::string server_;
  int port_ = 0;
};

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_CADDY_ROUTER_H_
