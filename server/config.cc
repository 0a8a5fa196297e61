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

namespace {

absl::Status DurationIn(std::string_view value, absl::Duration lo, absl::Duration hi,
                        absl::Duration* out) {
  auto d = ParseDuration(std::string(value));
  if (!d.ok()) return d.status();
  if (*d < lo || *d > hi) {
    return absl::InvalidArgumentError(absl::StrCat("\"", std::string(value), "\" is not between ",
                                                   absl::FormatDuration(lo), " and ",
                                                   absl::FormatDuration(hi)));
  }
  *out = *d;
  return absl::OkStatus();
}

template <class T>
absl::Status CountIn(std::string_view value, int64_t lo, int64_t hi, T* out) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(absl::string_view(value.data(), value.size()), &n)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", std::string(value), "\" is not a number"));
  }
  if (n < lo || n > hi) {
    return absl::InvalidArgumentError(absl::StrCat(n, " is not between ", lo, " and ", hi));
  }
  *out = static_cast<T>(n);
  return absl::OkStatus();
}

absl::Status SizeIn(std::string_view value, int64_t lo, int64_t hi, int64_t* out) {
  absl::StatusOr<int64_t> bytes = ParseByteSize(value);
  if (!bytes.ok()) return bytes.status();
  if (*bytes < lo || *bytes > hi) {
    return absl::InvalidArgumentError(absl::StrCat(FormatByteSize(*bytes), " is not between ",
                                                   FormatByteSize(lo), " and ",
                                                   FormatByteSize(hi)));
  }
  *out = *bytes;
  return absl::OkStatus();
}

}  // namespace

absl::Status SetBound(std::string_view key, std::string_view value, DaemonConfig* config) {
  HttpEdgeOptions& h = config->server.http;
  if (key == "http_head_timeout") {
    return DurationIn(value, absl::Seconds(1), absl::Minutes(10), &h.head_timeout);
  }
  if (key == "http_idle_timeout") {
    return DurationIn(value, absl::Seconds(1), absl::Hours(1), &h.idle_timeout);
  }
  if (key == "http_body_timeout") {
    return DurationIn(value, absl::Seconds(1), absl::Hours(1), &h.body_timeout);
  }
  if (key == "http_max_head") return SizeIn(value, 1 << 10, 1 << 20, &h.max_head_bytes);
  if (key == "http_max_headers") return CountIn(value, 1, 1000, &h.max_headers);
  if (key == "http_max_connections") return CountIn(value, 1, 1000000, &h.max_connections);
  if (key == "http_max_connections_per_client") {
    return CountIn(value, 1, 1000000, &h.max_connections_per_client);
  }
  if (key == "http_max_buffered") {
    return SizeIn(value, 1 << 20, int64_t{64} << 30, &h.max_buffered_bytes);
  }
  if (key == "delivery_retention") {
    return DurationIn(value, absl::Hours(1), absl::Hours(24 * 3650),
                      &config->server.delivery_retention);
  }
  if (key == "audit_retention") {
    return DurationIn(value, absl::Hours(24), absl::Hours(24 * 3650),
                      &config->server.audit_retention);
  }
  if (key == "replica_lease") {
    return DurationIn(value, absl::Seconds(2), absl::Minutes(10), &config->server.replica_lease);
  }
  if (key == "delivery_keep") {
    return CountIn(value, 100, 1000000000, &config->server.delivery_keep);
  }
  return absl::NotFoundError(absl::StrCat("unknown key \"", std::string(key), "\""));
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
    } else if (key == "store") {
      config->server.store = value;
    } else if (key == "grpc_listen") {
      config->server.grpc_listen = value;
    } else if (key == "http_listen") {
      config->server.http_listen = value;
    } else if (key == "tls_cert") {
      config->server.tls_cert = value;
    } else if (key == "tls_key") {
      config->server.tls_key = value;
    } else if (key == "admin_token_file") {
      config->server.admin_token_file = value;
    } else if (key == "secret_key_file") {
      config->server.secret_key_file = value;
    } else if (key == "container_host") {
      config->server.container_host = value;
    } else if (key == "router") {
      config->server.router = value;
    } else if (key == "router_admin") {
      config->server.router_admin = value;
    } else if (key == "router_server") {
      config->server.router_server = value;
    } else if (key == "preview_domain") {
      config->server.preview_domain = value;
    } else if (key == "audit_file") {
      config->server.audit_file = value;
    } else if (key == "log_level") {
      config->log_level = value;
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
      absl::Status s =
          absl::SimpleAtoi(value, &n)
              ? SetHttpThreads(n, config)
              : absl::InvalidArgumentError(absl::StrCat("\"", value, "\" is not a number"));
      if (!s.ok())
        return absl::InvalidArgumentError(absl::StrCat(path, ": http_threads: ", s.message()));
    } else if (key == "max_webhook_body") {
      if (absl::Status s = SetMaxWebhookBody(value, config); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": max_webhook_body: ", s.message()));
      }
    } else if (absl::Status s = SetBound(key, value, config); absl::IsNotFound(s)) {
      std::string known;
      for (const char* k : kBoundKeys) absl::StrAppend(&known, ", ", k);
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": unknown key \"", key,
          "\" (known: data_dir, store, grpc_listen, http_listen, log_format, log_level, tls_cert, "
          "tls_key, secret_key_file, admin_token_file, container_host, router, router_admin, "
          "router_server, preview_domain, audit_file, "
          "shutdown_grace, http_threads, max_webhook_body",
          known, ")"));
    } else if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", key, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace slipway::server
