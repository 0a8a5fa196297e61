// slipwayd's HTTP port: an event-driven HTTP/1.1 server (Boost.Beast on Asio, kept out of this
// header) made for clients that may be hostile. A held connection costs a buffer, not a thread;
// every phase of a request has a deadline and every part of it a size; handlers run on a worker
// pool so that a slow handler never delays reading other connections. See docs/adr/0005.
#ifndef SLIPWAY_SERVER_HTTP_EDGE_H_
#define SLIPWAY_SERVER_HTTP_EDGE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace slipway::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target without its query, as sent
  // Query parameters, percent-decoded (the first of a repeated name wins).
  std::map<std::string, std::string> query;
  // Header names lower case; a repeated header keeps its first value.
  std::map<std::string, std::string> headers;
  std::string body;
  // The peer's IP address ("127.0.0.1", "::1").
  std::string client;
};

// Writes the next piece of a streamed response body. False once the client is gone or too slow
// to take a piece within write_timeout, or the edge is stopping: the stream should end. An
// empty piece writes nothing and only asks.
using BodyWriter = std::function<bool(std::string_view piece)>;

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set for a streamed response (`body` is then not sent): the head goes out with
  // `Transfer-Encoding: chunked`, then `stream` runs on the handler thread and writes the body
  // through the writer; the connection is closed after it.
  std::function<void(const BodyWriter& write)> stream;
};

// Every bound has a default that holds on a small machine facing the internet; each is a flag
// and a config key of slipwayd (server/config.h).
struct HttpEdgeOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free port
  // PEM files; both set means TLS only.
  std::string tls_cert;
  std::string tls_key;
  // From a request's first byte (or a new connection's accept) to its whole head.
  absl::Duration head_timeout = absl::Seconds(10);
  // A kept-alive connection with no request started is closed after this.
  absl::Duration idle_timeout = absl::Seconds(30);
  // From the end of the head to the end of the body.
  absl::Duration body_timeout = absl::Seconds(60);
  // For the whole response to be taken by the client.
  absl::Duration write_timeout = absl::Seconds(30);
  int64_t max_head_bytes = 64 << 10;
  int max_headers = 100;
  // Body bytes whatever the framing (Content-Length or chunked, counted as it arrives).
  int64_t max_body_bytes = 25 << 20;
  // Body bytes held by all connections at once; a body that would pass it gets 503.
  int64_t max_buffered_bytes = 256 << 20;
  int max_connections = 4096;
  int max_connections_per_client = 256;
  // Handler threads: started on demand up to this many, ended when idle.
  int max_handler_threads = 128;
  // Threads that read, parse and write (not a flag: two fit a 2-core machine).
  int io_threads = 2;
};

// Counters of the edge, for /metrics and tests.
struct HttpEdgeStats {
  int64_t connections = 0;  // open now
  int64_t peak_connections = 0;
  int64_t buffered_bytes = 0;  // request bytes held now (heads and bodies)
  int64_t peak_buffered_bytes = 0;
  int64_t requests = 0;  // requests handed to a handler
  // Requests and connections refused or cut, by reason: head_timeout, idle_timeout,
  // body_timeout, write_timeout, head_too_large, too_many_headers, body_too_large,
  // content_encoding, transfer_encoding, malformed, connection_limit, client_connection_limit,
  // busy, tls_handshake.
  std::map<std::string, int64_t> rejected;
};

// Thread-safe.
class HttpEdge {
 public:
  // Decides on a request from its head alone (body empty), before any body is read: a response
  // to send now (a refusal, or a cheap answer such as /healthz), or nullopt to read the body and
  // call the handler. Runs on an I/O thread: it must not block.
  using HeadCheck = std::function<std::optional<HttpResponse>(const HttpRequest& head)>;
  // Answers a whole request. Runs on a handler thread; may block.
  using Handler = std::function<HttpResponse(HttpRequest& request)>;

  // Binds and starts serving. INVALID_ARGUMENT for an unusable TLS pair or bad options,
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpEdge>> Start(const HttpEdgeOptions& options,
                                                         HeadCheck head_check, Handler handler);
  virtual ~HttpEdge() = default;

  virtual int port() const = 0;
  virtual HttpEdgeStats Stats() const = 0;
  // Stops accepting, lets requests already handed to a handler finish and be answered for up
  // to `grace`, then closes every connection. Idempotent.
  virtual void Stop(absl::Duration grace) = 0;
};

// Percent-decodes a query string ("a=1&b=x%20y") into its parameters; '+' is a space. Pairs
// without '=' get an empty value.
std::map<std::string, std::string> ParseQuery(std::string_view query);

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_HTTP_EDGE_H_
