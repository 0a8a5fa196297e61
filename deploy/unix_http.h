// HTTP/1.1 over a unix domain socket: what the container driver speaks to the Docker Engine
// API (Docker's /var/run/docker.sock, Podman's API service). One request per connection.
// Responses are bounded in size and time; streamed bodies (logs, waits) go to a callback.
#ifndef SLIPWAY_DEPLOY_UNIX_HTTP_H_
#define SLIPWAY_DEPLOY_UNIX_HTTP_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace slipway::deploy {

struct UnixHttpRequest {
  std::string method = "GET";
  // Path and query, e.g. "/v1.41/containers/json?all=1".
  std::string target;
  std::string body;
  std::map<std::string, std::string> headers;
  // The Host header.
  std::string host = "docker";
  // Deadline for the whole exchange when the body is buffered; for a streamed body, the
  // deadline for the response headers.
  absl::Duration timeout = absl::Seconds(30);
  // The clock the timeout is measured by; unset, the system clock.
  const Clock* clock = nullptr;
  // A buffered body longer than this fails the request (RESOURCE_EXHAUSTED).
  size_t max_body = 16 << 20;
};

struct UnixHttpResponse {
  int status = 0;
  // Empty when the body was streamed.
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
};

// Receives a streamed body: called with each piece of the decoded body, and with an empty
// piece about every 250 ms while nothing arrives. Returning false ends the exchange.
using BodySink = std::function<bool(std::string_view)>;

// Sends `request` to the server on the unix socket `socket_path`. UNAVAILABLE when the socket
// cannot be reached or the connection breaks, DEADLINE_EXCEEDED on timeout. Any HTTP status is
// a response, not an error. With `sink`, a 2xx body is streamed to it instead of buffered.
absl::StatusOr<UnixHttpResponse> SendUnixHttp(const std::string& socket_path,
                                              const UnixHttpRequest& request,
                                              const BodySink& sink = nullptr);

// The same exchange with a server on 127.0.0.1:`port` (Caddy's admin API, whose answers carry
// chunked trailers). Messages name "unix://127.0.0.1:<port>"'s peer as 127.0.0.1:<port>.
absl::StatusOr<UnixHttpResponse> SendLoopbackHttp(int port, const UnixHttpRequest& request);

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_UNIX_HTTP_H_
