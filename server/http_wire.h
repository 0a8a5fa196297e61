// The HTTP/1.1 text of the edge's answers (status lines, heads, chunks, JSON refusals) and the
// decoding of query strings: what server/http_edge.cc writes and reads, without its sockets.
#ifndef SLIPWAY_SERVER_HTTP_WIRE_H_
#define SLIPWAY_SERVER_HTTP_WIRE_H_

#include <string>
#include <string_view>

#include "server/http_edge.h"

namespace slipway::server::wire {

// The reason phrase of a status ("Not Found"); "Status" for one it does not know.
const char* StatusText(int status);
// The status line and headers, without the framing headers and the blank line.
std::string SerializeHead(const HttpResponse& r);
// A whole response with Content-Length; `Connection: close` unless keep_alive.
std::string Serialize(const HttpResponse& r, bool keep_alive);
// One piece of a chunked body.
std::string Chunk(std::string_view piece);
// A JSON refusal: {"status": message}.
HttpResponse Refusal(int status, const std::string& message);
// Percent-decodes a query component; '+' is a space.
std::string PercentDecode(std::string_view s);

}  // namespace slipway::server::wire

#endif  // SLIPWAY_SERVER_HTTP_WIRE_H_
