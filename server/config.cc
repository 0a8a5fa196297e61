#include "server/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/byte_size.h"
#include "common/duration.h"

namespace slipway::server {

absl::Status SetHttpThreads(int64_t threads, DaemonConfig* config) {
  if (threads < 1 || threads > 4096) {
    return absl::InvalidArgumentError(absl::StrCat(threads, " is not between 1 and 4096"));
  }
  config->server.http_threads = static_cast<int>(threads);
  return absl::OkStatus();
}

absl::Status SetMaxWebhookBody(std::string_view size, DaemonConfig* config) {
  absl::StatusOr<int64_t> bytes = ParseByteSize(size);
  if (!bytes.ok()) return bytes.status();
  if (*bytes < (int64_t{1} << 10) || *bytes > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat(FormatByteSize(*bytes), " is not between 1KiB and 1GiB"));
  }
  config->server.max_webhook_bytes = *bytes;
  return absl::OkStatus();
}

absl::Status LoadConfigFile(const std::string& path, DaemonConfig* config) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--config: cannot read ", path));
  YAML::Node root;
  try {
    root = YAML::Load(in);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid YAML: ", e.what()));
  }
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(path, ": expected a mapping"));
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    if (!kv.second.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", key, ": expected a value"));
    }
    std::string value = kv.second.Scalar();
    if (key == "data_dir") {
      config->server.data_dir = value;
    } else if (key == "grpc_listen") {
      config->server.grpc_listen = value;
    } else if (key == "http_listen") {
      config->server.http_listen = value;
    } else if (key == "tls_cert") {
      config->server.tls_cert = value;
    } else if (key == "tls_key") {
      config->server.tls_key = value;
    } else if (key == "log_format") {
      config->log_format = value;
    } else if (key == "shutdown_grace") {
      auto d = ParseDuration(value);
      if (!d.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": shutdown_grace: ", d.status().message()));
      }
      config->shutdown_grace = *d;
    } else if (key == "http_threads") {
      int64_t n = 0;
      absl::Status s = absl::SimpleAtoi(value, &n)
                           ? SetHttpThreads(n, config)
                           : absl::InvalidArgumentError(absl::StrCat("\"", value, "\" is not a number"));
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": http_threads: ", s.message()));
    } else if (key == "max_webhook_body") {
      if (absl::Status s = SetMaxWebhookBody(value, config); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": max_webhook_body: ", s.message()));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": unknown key \"", key,
          "\" (known: data_dir, grpc_listen, http_listen, log_format, tls_cert, tls_key, "
          "shutdown_grace, http_threads, max_webhook_body)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace slipway::server
