#include "deploy/unix_http.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace slipway::deploy {
namespace {

constexpr size_t kMaxHeaderBytes = 64 << 10;
constexpr int kIdleTickMs = 250;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads from a connected socket into `buf`, with a deadline (absl::InfiniteFuture() for none).
class Reader {
 public:
  Reader(int fd, std::string socket, const Clock& clock)
      : fd_(fd), socket_(std::move(socket)), clock_(clock) {}

  // Appends what arrives to buf_. Returns false at end of stream; an error on timeout or a
  // broken connection. `idle` (optional) is called on each quiet tick; false from it stops.
  absl::StatusOr<bool> Fill(absl::Time deadline, const std::function<bool()>& idle) {
    while (true) {
      const absl::Duration left = deadline - clock_.Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError(absl::StrCat("no answer from ", socket_, " in time"));
      }
      // Clamped before the +1: an infinite deadline leaves INT64_MAX milliseconds.
      int wait_ms =
          static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left), kIdleTickMs - 1) + 1);
      pollfd p{fd_, POLLIN, 0};
      int r = poll(&p, 1, wait_ms);
      if (r < 0) {
        if (errno == EINTR) continue;
        return absl::UnavailableError(absl::StrCat(socket_, ": ", strerror(errno)));
      }
      if (r == 0) {
        if (idle && !idle()) return absl::CancelledError("stopped");
        continue;
      }
      char chunk[16384];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return absl::UnavailableError(absl::StrCat(socket_, ": ", strerror(errno)));
      }
      if (n == 0) return false;
      buf_.append(chunk, static_cast<size_t>(n));
      return true;
    }
  }

  std::string& buf() { return buf_; }

 private:
  int fd_;
  std::string socket_;
  const Clock& clock_;
  std::string buf_;
};

absl::Status SendAll(int fd, std::string_view data, absl::Time deadline, const Clock& clock,
                     const std::string& socket) {
  while (!data.empty()) {
    pollfd p{fd, POLLOUT, 0};
    int wait_ms =
        static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline - clock.Now())));
    int r = poll(&p, 1, wait_ms);
    if (r == 0) {
      return absl::DeadlineExceededError(absl::StrCat(socket, ": send timed out"));
    }
    if (r < 0 && errno == EINTR) continue;
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::UnavailableError(absl::StrCat(socket, ": ", strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UnixHttpResponse> Exchange(const Fd& fd, const std::string& socket_path,
                                          const UnixHttpRequest& request, const BodySink& sink);

absl::StatusOr<UnixHttpResponse> SendUnixHttp(const std::string& socket_path,
                                              const UnixHttpRequest& request,
                                              const BodySink& sink) {
  sockaddr_un addr{};
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path \"", socket_path, "\" is empty or too long"));
  }
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::InternalError(strerror(errno));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to unix://", socket_path, ": ", strerror(errno)));
  }
  return Exchange(fd, "unix://" + socket_path, request, sink);
}

absl::StatusOr<UnixHttpResponse> SendLoopbackHttp(int port, const UnixHttpRequest& request) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::InternalError(strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string where = absl::StrCat("127.0.0.1:", port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", where, ": ", strerror(errno)));
  }
  return Exchange(fd, where, request, nullptr);
}

absl::StatusOr<UnixHttpResponse> Exchange(const Fd& fd, const std::string& socket_path,
                                          const UnixHttpRequest& request, const BodySink& sink) {
  fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  static const RealClock kSystemClock;
  const Clock& clock = request.clock != nullptr ? *request.clock : kSystemClock;
  const absl::Time deadline = clock.Now() + request.timeout;

  std::string head = absl::StrCat(request.method, " ", request.target,
                                  " HTTP/1.1\r\nHost: ", request.host, "\r\nConnection: close\r\n");
  for (const auto& [k, v] : request.headers) absl::StrAppend(&head, k, ": ", v, "\r\n");
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    if (!request.headers.contains("Content-Type")) {
      absl::StrAppend(&head, "Content-Type: application/json\r\n");
    }
    absl::StrAppend(&head, "Content-Length: ", request.body.size(), "\r\n");
  }
  head += "\r\n";
  RETURN_IF_ERROR(SendAll(fd.get(), head, deadline, clock, socket_path));
  RETURN_IF_ERROR(SendAll(fd.get(), request.body, deadline, clock, socket_path));

  Reader reader(fd.get(), socket_path, clock);
  std::string& buf = reader.buf();
  size_t header_end;
  while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (buf.size() > kMaxHeaderBytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat(socket_path, ": response headers over ", kMaxHeaderBytes, " bytes"));
    }
    ASSIGN_OR_RETURN(bool more, reader.Fill(deadline, nullptr));
    if (!more) {
      return absl::UnavailableError(
          absl::StrCat(socket_path, ": connection closed before a response"));
    }
  }
  UnixHttpResponse response;
  std::vector<std::string> lines = absl::StrSplit(buf.substr(0, header_end), "\r\n");
  std::vector<std::string> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &response.status)) {
    return absl::UnavailableError(absl::StrCat(socket_path, ": not an HTTP response"));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    response.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  buf.erase(0, header_end + 4);

  const bool streamed = sink != nullptr && response.status >= 200 && response.status < 300;
  const absl::Time body_deadline = streamed ? absl::InfiniteFuture() : deadline;
  std::function<bool()> idle;
  if (streamed) idle = [&]() { return sink(std::string_view()); };
  bool stopped = false;
  // The sink ending the stream on a quiet tick is a normal end.
  auto fill = [&]() -> absl::StatusOr<bool> {
    absl::StatusOr<bool> r = reader.Fill(body_deadline, idle);
    if (!r.ok() && absl::IsCancelled(r.status())) {
      stopped = true;
      return false;
    }
    return r;
  };
  size_t total = 0;
  auto emit = [&](std::string_view piece) -> absl::StatusOr<bool> {
    if (streamed) return sink(piece);
    total += piece.size();
    if (total > request.max_body) {
      return absl::ResourceExhaustedError(
          absl::StrCat(socket_path, ": response body over ", request.max_body, " bytes"));
    }
    response.body.append(piece);
    return true;
  };

  const bool chunked = absl::AsciiStrToLower(response.headers["transfer-encoding"]) == "chunked";
  int64_t length = -1;
  if (auto it = response.headers.find("content-length"); it != response.headers.end()) {
    if (!absl::SimpleAtoi(it->second, &length) || length < 0) length = -1;
  }
  if (response.status == 204 || response.status == 304 || request.method == "HEAD") length = 0;
  if (chunked) {
    while (true) {
      size_t eol;
      while ((eol = buf.find("\r\n")) == std::string::npos) {
        ASSIGN_OR_RETURN(bool more, fill());
        if (!more) return response;  // closed mid-stream: what arrived is the body
      }
      int64_t size = 0;
      std::string size_text = buf.substr(0, eol);
      size_text = size_text.substr(0, size_text.find(';'));
      if (!absl::SimpleHexAtoi(std::string(absl::StripAsciiWhitespace(size_text)), &size) ||
          size < 0) {
        return absl::UnavailableError(absl::StrCat(socket_path, ": bad chunk size"));
      }
      if (size == 0) return response;
      const size_t need = eol + 2 + static_cast<size_t>(size) + 2;
      while (buf.size() < need) {
        ASSIGN_OR_RETURN(bool more, fill());
        if (!more) return response;
      }
      ASSIGN_OR_RETURN(bool go_on,
                       emit(std::string_view(buf).substr(eol + 2, static_cast<size_t>(size))));
      buf.erase(0, need);
      if (!go_on) return response;
    }
  }
  int64_t remaining = length;
  while (true) {
    if (!buf.empty()) {
      std::string_view piece = buf;
      if (remaining >= 0) piece = piece.substr(0, static_cast<size_t>(remaining));
      ASSIGN_OR_RETURN(bool go_on, emit(piece));
      if (remaining >= 0) remaining -= static_cast<int64_t>(piece.size());
      buf.clear();
      if (!go_on) return response;
    }
    if (remaining == 0) return response;
    ASSIGN_OR_RETURN(bool more, fill());
    if (!more) {
      if (remaining > 0 && !stopped) {
        return absl::UnavailableError(
            absl::StrCat(socket_path, ": connection closed mid-response"));
      }
      return response;
    }
  }
}

}  // namespace slipway::deploy
