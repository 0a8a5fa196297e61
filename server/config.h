// slipwayd's YAML config file. Keys: data_dir, store, grpc_listen, http_listen, log_format,
// log_level, tls_cert, tls_key, secret_key_file, admin_token_file, shutdown_grace, http_threads,
// max_webhook_body, container_host, router, router_admin, router_server, preview_domain, and the
// bounds of kBoundKeys below. Flags given on the command line win over the file.
#ifndef SLIPWAY_SERVER_CONFIG_H_
#define SLIPWAY_SERVER_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/server.h"

namespace slipway::server {

struct DaemonConfig {
  ServerOptions server;
  std::string log_format = "text";
  std::string log_level = "info";
  absl::Duration shutdown_grace = absl::Seconds(10);
};

// Reads `path` into `config`, overwriting only the keys the file sets. INVALID_ARGUMENT naming
// the key for unknown keys, wrong types or unreadable YAML; NOT_FOUND if the file is missing.
absl::Status LoadConfigFile(const std::string& path, DaemonConfig* config);

// Settings that both a flag and a config key set, validated the same way. INVALID_ARGUMENT
// says what is allowed; the caller names the flag or key.
// HTTP connections served at once: 1 to 4096.
absl::Status SetHttpThreads(int64_t threads, DaemonConfig* config);
// The largest webhook body accepted (larger ones get 413 before they are read): a size such
// as "25MiB" (common/byte_size.h), from 1KiB to 1GiB.
absl::Status SetMaxWebhookBody(std::string_view size, DaemonConfig* config);

// The HTTP edge's bounds, the delivery retention and the replicas' lease time, each a config
// key and a flag of the same name with dashes (http_head_timeout, --http-head-timeout).
inline constexpr const char* kBoundKeys[] = {"http_head_timeout",
                                             "http_idle_timeout",
                                             "http_body_timeout",
                                             "http_max_head",
                                             "http_max_headers",
                                             "http_max_connections",
                                             "http_max_connections_per_client",
                                             "http_max_buffered",
                                             "delivery_retention",
                                             "delivery_keep",
                                             "audit_retention",
                                             "replica_lease"};
// Sets one of kBoundKeys from its text form (durations "10s", sizes "64KiB", counts "100").
// INVALID_ARGUMENT saying what is allowed; NOT_FOUND for a key that is not one of them.
absl::Status SetBound(std::string_view key, std::string_view value, DaemonConfig* config);

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_CONFIG_H_
