// HttpClient over libcurl: one easy handle per request, no shell, no redirects followed.
#ifndef SLIPWAY_DEPLOY_CURL_HTTP_CLIENT_H_
#define SLIPWAY_DEPLOY_CURL_HTTP_CLIENT_H_

#include "deploy/driver.h"

namespace slipway::deploy {

// Thread-safe. Initializes libcurl globally on first construction.
class CurlHttpClient final : public HttpClient {
 public:
  CurlHttpClient();
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override;
};

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_CURL_HTTP_CLIENT_H_
