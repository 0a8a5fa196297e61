// The `container` driver: each service instance is a container made through the Docker Engine
// API (deploy/container_engine.h), on a network of its stage or preview where the other
// resources reach it by its resource name, with its named volumes, limits and restart policy.
//
// The engine holds the driver's state: every container, network and volume it makes carries
// ownership labels (the controller's id, pipeline, stage or preview, resource), so after a
// restart the driver finds its objects by label and carries on (re-adoption), and Sweep removes
// labelled objects no record owns. Objects without this controller's label are never touched.
//
// An Apply is one idempotent step: resolve the image to a digest (pulling per the pull policy),
// ensure the network and volumes, and if no running container already has exactly the desired
// configuration, start a new one, wait for its health check, switch the route to it, and only
// then remove the old one. A new container that fails its health check is removed and the old
// one keeps serving. With a fixed host port the old container is removed first (two cannot
// hold one port).
#ifndef SLIPWAY_DEPLOY_CONTAINER_DRIVER_H_
#define SLIPWAY_DEPLOY_CONTAINER_DRIVER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "deploy/container_engine.h"
#include "deploy/driver.h"
#include "deploy/router.h"

namespace slipway::deploy {

struct ContainerDriverOptions {
  // The engine's socket: "unix:///run/podman/podman.sock", "/var/run/docker.sock".
  std::string host;
  // The controller's id, in every label and engine name; generated once per data dir.
  std::string controller_id;
  // With a router: services are routed at "<route_label>.<domain>".
  Router* router = nullptr;
  std::string domain;
  // How long a new service container gets to pass its health check.
  absl::Duration health_wait = absl::Seconds(60);
  // Poll interval while waiting for a new container's health.
  absl::Duration startup_poll = absl::Milliseconds(50);
  // The clock the health wait is measured and paced by; unset, the system clock. Tests give a
  // fake one, whose waits advance it.
  const Clock* clock = nullptr;
  // Sweep refuses to remove more than this share of the labelled containers at once.
  double sweep_max_share = 0.5;
};

// Label keys.
inline constexpr char kLabelController[] = "io.slipway.controller";
inline constexpr char kLabelKey[] = "io.slipway.key";
inline constexpr char kLabelScope[] = "io.slipway.scope";
inline constexpr char kLabelPipeline[] = "io.slipway.pipeline";
inline constexpr char kLabelStage[] = "io.slipway.stage";
inline constexpr char kLabelPreview[] = "io.slipway.preview";
inline constexpr char kLabelResource[] = "io.slipway.resource";
inline constexpr char kLabelSpec[] = "io.slipway.spec";
inline constexpr char kLabelRole[] = "io.slipway.role";
inline constexpr char kLabelRoute[] = "io.slipway.route";
inline constexpr char kLabelRoutePort[] = "io.slipway.route-port";

// What Sweep found and did.
struct SweepReport {
  int containers = 0;  // labelled containers seen
  int removed_containers = 0;
  int removed_networks = 0;
  int removed_volumes = 0;
  int routes_added = 0;
  int routes_removed = 0;
  // Set when the sweep refused to delete (too many at once) or could not list everything.
  std::string refused;
};

// Thread-safe. `http` (health checks) and the router must outlive it.
class ContainerDriver final : public Driver {
 public:
  ContainerDriver(ContainerDriverOptions options, HttpClient* http);

  absl::StatusOr<DeployResult> Apply(const DeployRequest& request) override;
  absl::StatusOr<bool> Healthy(const DeployRequest& request) override;
  absl::StatusOr<JobResult> RunJob(const DeployRequest& request,
                                   const std::vector<std::string>& extra_args,
                                   absl::Duration timeout) override;
  absl::Status Teardown(const DeployRequest& request) override;
  absl::Status Logs(const DeployRequest& request, bool follow, int tail,
                    const std::function<bool(std::string_view)>& sink) override;

  // Removes every object labelled with this controller's id that nothing owns: containers whose
  // key is not owned (and, for an owned key, every container but the running service started
  // last), networks and volumes of scopes ("<pipeline>/<stage>") not owned, and routes of keys
  // not owned; puts back the route of each owned, running, routed service. Objects of busy
  // scopes are left to the work in progress. `ownership` is read after the engine's objects are
  // listed, so an object made after the read cannot be mistaken for an orphan. Does nothing
  // when a listing or the read fails, or when more than sweep_max_share of the labelled
  // containers would go (the report says why).
  struct Ownership {
    std::set<std::string> keys;
    std::set<std::string> scopes;
    std::set<std::string> busy_scopes;
  };
  SweepReport Sweep(const std::function<absl::StatusOr<Ownership>()>& ownership);

  // The engine's version; UNAVAILABLE naming the socket when it cannot be reached.
  absl::StatusOr<std::string> Ping() { return engine_.Version(); }
  ContainerEngine& engine() { return engine_; }
  const std::string& controller_id() const { return options_.controller_id; }

  // Engine names, for tests and status output.
  std::string NetworkName(const std::string& scope) const;
  std::string VolumeName(const std::string& scope, const std::string& volume) const;
  std::string RouteId(const std::string& key) const;

 private:
  struct Resolved;
  absl::StatusOr<Resolved> Prepare(const DeployRequest& request, bool job);
  absl::StatusOr<std::vector<ContainerInfo>> ContainersOf(const std::string& key,
                                                          const std::string& role);
  absl::StatusOr<bool> CheckHealth(const DeployRequest& request, const ContainerInfo& c);
  absl::Status RouteTo(const DeployRequest& request, const ContainerInfo& c);
  std::optional<std::string> RoutedUpstream(const DeployRequest& request,
                                            const ContainerInfo& c) const;
  std::map<std::string, std::string> StatusOf(const DeployRequest& request, const ContainerInfo& c,
                                              const std::string& digest) const;
  std::string LogTail(const std::string& id, int lines);

  const ContainerDriverOptions options_;
  HttpClient* http_;
  ContainerEngine engine_;
};

// The controller id kept in `dir`/controller-id, created (12 random hex digits) if missing.
absl::StatusOr<std::string> LoadControllerId(const std::string& dir);

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_CONTAINER_DRIVER_H_
