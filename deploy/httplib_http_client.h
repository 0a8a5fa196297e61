// HttpClient over cpp-httplib, with OpenSSL for https: one connection per request, no shell,
// no redirects followed, server certificates and host names verified against the system's
// trust store.
#ifndef SLIPWAY_DEPLOY_HTTPLIB_HTTP_CLIENT_H_
#define SLIPWAY_DEPLOY_HTTPLIB_HTTP_CLIENT_H_

#include "deploy/driver.h"

namespace slipway::deploy {

// Thread-safe.
class HttplibHttpClient final : public HttpClient {
 public:
  // Response bodies are kept up to this many bytes; the rest is read and dropped.
  static constexpr size_t kMaxBody = 1 << 20;
  // `ca_file`: trust only the certificates in this PEM file (tests), instead of the system's.
  explicit HttplibHttpClient(std::string ca_file = "") : ca_file_(std::move(ca_file)) {}
  // An error names the method and URL: InvalidArgument for a URL that is not http(s)://host...,
  // Unavailable for a connection, TLS or timeout failure (`timeout` bounds the whole request).
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override;

 private:
  std::string ca_file_;
};

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_HTTPLIB_HTTP_CLIENT_H_
