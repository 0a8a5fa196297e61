// The browser API on slipwayd's HTTP port: the Connect protocol (connectrpc.com) for every method
// of the five slipway.v1 services. A request to "/slipway.v1.<Service>/<Method>" becomes a gRPC
// call on the server's in-process channel, so it runs the same service code, token check,
// redaction and audit as a call on the gRPC port; nothing is decided here but the framing.
//
// - Unary: POST with `application/json` (protobuf's JSON mapping) or `application/proto`; the
//   answer is the message, or a Connect error `{"code", "message", "details"}` with the HTTP
//   status Connect gives each code, the google.rpc details (BadRequest field violations) and
//   the `slipway-error-reason` trailer as `trailer-slipway-error-reason`.
// - Server streaming (WatchRun, WatchResourceLogs): POST with `application/connect+json` or
//   `application/connect+proto`, one enveloped request; the answer streams enveloped messages
//   and ends with an end-of-stream envelope carrying the error, if any.
//
// Bounds: the request body (4 MiB, like the gRPC port), a unary call's time (Connect-Timeout-Ms,
// at most 5 minutes, 60 s when unset), a stream's time (at most 30 minutes; WatchRun resumes
// from `after_sequence`) and the number of streams open at once.
#ifndef SLIPWAY_SERVER_CONNECT_GATEWAY_H_
#define SLIPWAY_SERVER_CONNECT_GATEWAY_H_

#include <memory>
#include <optional>
#include <string_view>

#include "absl/time/time.h"
#include "server/http_edge.h"

namespace grpc {
class Channel;
}

namespace slipway::server {

struct ConnectGatewayOptions {
  int64_t max_request_bytes = 4 << 20;
  absl::Duration default_timeout = absl::Seconds(60);
  absl::Duration max_timeout = absl::Minutes(5);
  absl::Duration max_stream = absl::Minutes(30);
  int max_streams = 64;
  // How often a quiet stream checks that its client is still there.
  absl::Duration stream_check = absl::Milliseconds(500);
  // Sent with each call as `slipway-gateway-key`, beside the HTTP client's address
  // (`slipway-peer`): the services believe that address only with this process's key.
  std::string peer_key;
};

// Connect's name and HTTP status for a gRPC status code (0 to 16); "unknown" and 500 for any
// other number.
struct ConnectCode {
  std::string_view name;
  int http_status;
};
ConnectCode ConnectCodeOf(int grpc_code);

// Thread-safe.
class ConnectGateway {
 public:
  // `channel` reaches the gRPC server in process (grpc::Server::InProcessChannel).
  ConnectGateway(std::shared_ptr<grpc::Channel> channel, ConnectGatewayOptions options = {});
  ~ConnectGateway();
  ConnectGateway(const ConnectGateway&) = delete;
  ConnectGateway& operator=(const ConnectGateway&) = delete;

  // True for the paths of the services it serves ("/slipway.v1.PipelineService/...").
  static bool Serves(std::string_view path);
  // Refusals from the head alone: unknown method, not POST, wrong content type, too large.
  std::optional<HttpResponse> Head(const HttpRequest& head) const;
  HttpResponse Handle(HttpRequest& request) const;

  // Streams open now.
  int open_streams() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_CONNECT_GATEWAY_H_
