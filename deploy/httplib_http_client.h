// HttpClient over cpp-httplib, with OpenSSL for https: one connection per request, no shell,
// no redirects followed, server certificates and host names verified against the system's
// trust store.
#ifndef SLIPWAY_DEPLOY_HTTPLIB_HTTP_CLIENT_H_
#define SLIPWAY_DEPLOY_HTTPLIB_HTTP_CLIENT_H_

#include <string>

#include "common/clock.h"
#include "deploy/driver.h"

namespace slipway::deploy {

struct HttpClientOptions {
  // Trust only the certificates in this PEM file (tests), instead of the system's.
  std::string ca_file;
  // Proxies as http:// URLs ("http://user:pass@proxy.internal:3128"; port 1080 when none is
  // given) for http and https requests (https through CONNECT), and the hosts reached directly:
  // comma-separated names ("example.com" covers its subdomains too) or "*" for all.
  std::string http_proxy, https_proxy, no_proxy;

  // From the environment, as curl reads it: http_proxy (lower case only), https_proxy or
  // HTTPS_PROXY, no_proxy or NO_PROXY.
  static HttpClientOptions FromEnvironment();
};

// Thread-safe.
class HttplibHttpClient final : public HttpClient {
 public:
  // Response bodies are kept up to this many bytes; the rest is read and dropped.
  static constexpr size_t kMaxBody = 1 << 20;
  // `clock` (not owned; the system clock if null) bounds each request's whole duration.
  explicit HttplibHttpClient(HttpClientOptions options = {}, const Clock* clock = nullptr);
  // An error names the method and URL: InvalidArgument for a URL that is not http(s)://host...
  // (or a proxy that is not http://host...), Unavailable for a connection, TLS or timeout
  // failure (`timeout` bounds the whole request).
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override;

 private:
  HttpClientOptions options_;
  const Clock* clock_;
};

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_HTTPLIB_HTTP_CLIENT_H_
