// slipwayd's YAML config file. Keys: data_dir, grpc_listen, http_listen, log_format, tls_cert,
// tls_key, shutdown_grace. Flags given on the command line win over the file.
#ifndef SLIPWAY_SERVER_CONFIG_H_
#define SLIPWAY_SERVER_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/server.h"

namespace slipway::server {

struct DaemonConfig {
  ServerOptions server;
  std::string log_format = "text";
  absl::Duration shutdown_grace = absl::Seconds(10);
};

// Reads `path` into `config`, overwriting only the keys the file sets. INVALID_ARGUMENT naming
// the key for unknown keys, wrong types or unreadable YAML; NOT_FOUND if the file is missing.
absl::Status LoadConfigFile(const std::string& path, DaemonConfig* config);

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_CONFIG_H_
