// slipwayd as an object: opens the store under the data dir, issues the bootstrap admin token,
// and serves gRPC (PipelineService, AdminService, ReleaseService, DeliveryService,
// PreviewService, Health, reflection) and HTTP (/hooks/<provider>, /healthz, /readyz,
// /metrics) until Shutdown. It is the composition root: it builds the drivers, the node kinds,
// the executor, the preview manager, the scheduler and the poller, and the threads that drive
// them (server/background.h). main.cc runs one; service tests run one in-process on
// 127.0.0.1:0.
#ifndef SLIPWAY_SERVER_SERVER_H_
#define SLIPWAY_SERVER_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/random.h"
#include "deploy/driver.h"
#include "server/http_edge.h"

namespace slipway::server {

struct ServerOptions {
  // Directory for the database and the admin token file; created (mode 0700) if missing.
  std::string data_dir;
  // Where state is kept (storage/store_url.h): empty for SQLite in the data dir, sqlite:PATH,
  // or postgres://… shared by several replicas.
  std::string store;
  // host:port; port 0 picks a free port.
  std::string grpc_listen = "127.0.0.1:7420";
  std::string http_listen = "127.0.0.1:7421";
  // PEM files. When both are set, gRPC and HTTP are served over TLS only.
  std::string tls_cert;
  std::string tls_key;
  // The key secret values are sealed with in the database (64 hex characters). Empty: the
  // default, <data_dir>/secret.key, created 0600 with a new key on first start.
  std::string secret_key_file;
  // A file holding the first admin token ("slw_" and 64 hex digits), e.g. a mounted
  // Kubernetes Secret. On a data dir with no active token it is stored instead of a new one,
  // and admin.token is not written. Empty: a new token is written to <data_dir>/admin.token.
  std::string admin_token_file;
  // Name of a registered SQLite VFS (tests inject faults); empty for the default.
  std::string sqlite_vfs;
  // Drivers to use instead of the built-in `process` and `command`, by name (tests and
  // benchmarks). Not owned.
  std::map<std::string, deploy::Driver*> driver_overrides;
  // Threads that run driver and HTTP work of flow nodes.
  int task_threads = 8;
  int http_threads = 128;
  // Webhook bodies larger than this are refused with 413, whatever their framing.
  int64_t max_webhook_bytes = 25 << 20;
  // The HTTP edge's other bounds (timeouts, head size, header count, connections); its host,
  // port, TLS files, body limit and handler threads come from the fields above.
  HttpEdgeOptions http;
  // Delivery records older than this, or past the newest `delivery_keep`, are pruned by the
  // maintenance step.
  absl::Duration delivery_retention = absl::Hours(24 * 30);
  int64_t delivery_keep = 100000;
  // Audit records older than this are pruned by the maintenance step.
  absl::Duration audit_retention = absl::Hours(24 * 365);
  // Keep the audit trail. Only benchmarks turn it off, to measure what it costs.
  bool audit_trail = true;
  // If set, every audit record is also appended to this file as a JSON line, for shipping.
  std::string audit_file;
  // How often previews are compared with what is known of their pull requests and branches
  // (zero: never), and the largest share of live previews one reconcile may delete.
  absl::Duration reconcile_interval = absl::Minutes(5);
  double reconcile_max_share = 0.5;
  // The container driver's engine: "unix:///run/podman/podman.sock", "unix:///var/run/docker.sock".
  // Empty: no `container` driver (deploys with it fail naming the flag).
  std::string container_host;
  // Routing by hostname: "" (none: services answer on 127.0.0.1 ports) or "caddy", with Caddy's
  // admin API address, the name of the HTTP server in its config whose routes Slipway manages,
  // and the domain services are routed under ("<preview>.<domain>", "<pipeline>-<stage>.<domain>").
  std::string router;
  std::string router_admin = "http://127.0.0.1:2019";
  std::string router_server = "previews";
  std::string preview_domain;
  // How often labelled containers, networks, volumes and routes nothing owns are swept.
  absl::Duration container_sweep_interval = absl::Minutes(1);
  // How long a new service container gets to pass its health check.
  absl::Duration container_health_wait = absl::Seconds(60);
  // Replicas on a PostgreSQL store (server/replica_set.h): how long a replica's lease lasts
  // without renewal, the longest its runs and work wait for another replica after it dies.
  absl::Duration replica_lease = absl::Seconds(10);
  // Called once if another replica took this one's lease over (it was paused or cut off past
  // the lease): the process can write nothing more and should exit. Null: it only logs and
  // stops reporting ready.
  std::function<void(const absl::Status&)> on_lease_lost;
};

// The database file and admin token file inside a data dir.
std::string DatabasePath(const std::string& data_dir);
std::string AdminTokenPath(const std::string& data_dir);
std::string DefaultSecretKeyPath(const std::string& data_dir);

// `slipwayd secrets rotate-key`, run while slipwayd is stopped: writes a new key to
// `new_key_file` (default: <key file>.new), re-seals every stored secret under it in one
// transaction, compacts the database, and then replaces the key file with the new one.
// Returns how many stored rows were re-sealed.
absl::StatusOr<int64_t> RotateSecretKey(const std::string& data_dir, const std::string& store,
                                        const std::string& key_file,
                                        const std::string& new_key_file);
// Written at start: {"grpc": "127.0.0.1:7420", "http": "127.0.0.1:7421", "tls": false}, so
// the CLI and scripts find a running daemon's real ports.
std::string EndpointsPath(const std::string& data_dir);

class Server {
 public:
  // Starts serving. Errors: INVALID_ARGUMENT for bad listen addresses or TLS files,
  // UNAVAILABLE if a port cannot be bound, FAILED_PRECONDITION for an unusable data dir or a
  // database written by a newer Slipway.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                                       const Clock* clock, IdGenerator* ids);
  ~Server();

  int grpc_port() const;
  int http_port() const;
  // The HTTP edge's counters now (connections, buffered bytes, refusals by reason).
  HttpEdgeStats http_stats() const;
  // Stops accepting calls, lets in-flight calls finish for up to `grace`, then cancels the
  // rest and stops the HTTP listener. Idempotent.
  void Shutdown(absl::Duration grace);

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_SERVER_H_
