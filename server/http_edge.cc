#include "server/http_edge.h"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/http_wire.h"
#include "server/http_workers.h"

namespace slipway::server {
namespace {

using wire::Chunk;
using wire::Refusal;
using wire::Serialize;
using wire::SerializeHead;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

enum Reason {
  kHeadTimeout,
  kIdleTimeout,
  kBodyTimeout,
  kWriteTimeout,
  kHeadTooLarge,
  kTooManyHeaders,
  kBodyTooLarge,
  kContentEncoding,
  kTransferEncoding,
  kMalformed,
  kConnectionLimit,
  kClientConnectionLimit,
  kBusy,
  kTlsHandshake,
  kReasonCount,
};
constexpr std::array<const char*, kReasonCount> kReasonNames = {
    "head_timeout",   "idle_timeout",     "body_timeout",
    "write_timeout",  "head_too_large",   "too_many_headers",
    "body_too_large", "content_encoding", "transfer_encoding",
    "malformed",      "connection_limit", "client_connection_limit",
    "busy",           "tls_handshake"};

std::chrono::steady_clock::duration Chrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

class Edge;

// One connection. Lives as long as an operation, a handler or the edge holds it; all of its
// members are touched only on its strand.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Edge* edge, Stream stream, std::string client);
  ~Session();
  void Start();
  // Sends a streamed response (response.stream set). Runs on a handler thread, not the strand:
  // it waits for each piece to be written.
  void StreamResponse(const HttpResponse& response);

 private:
  enum class Phase { kIdle, kHead, kBody, kHandling, kWriting, kClosing };

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  void StartRequest(bool first);
  void Read();
  void OnRead(beast::error_code ec, size_t n);
  void Parse();
  // Decides on the head: refuse, answer at once, or go on to the body.
  bool OnHead();
  void Dispatch();
  void Write(const HttpResponse& response, bool keep_alive);
  void Refuse(Reason reason, int status, const std::string& message);
  void Close();
  void Hold();
  // From a handler thread: writes `data` on the strand and waits for it to be taken. False when
  // the write failed or timed out, or the edge stopped its I/O threads.
  bool WriteFromHandler(std::string data);
  // While a response streams, the client has nothing more to send: a read that ends means it
  // has gone.
  void WatchPeer();

  Edge* edge_;
  Stream stream_;
  const std::string client_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest head_;
  Phase phase_ = Phase::kIdle;
  int64_t held_ = 0;           // bytes accounted to this connection in the edge's budget
  int64_t body_reserved_ = 0;  // of which body bytes
  std::string out_;
  size_t drained_ = 0;
  std::atomic<bool> peer_gone_{false};
};

class Edge final : public HttpEdge {
 public:
  Edge(const HttpEdgeOptions& options, HeadCheck head_check, Handler handler)
      : options_(options),
        head_check_(std::move(head_check)),
        handler_(std::move(handler)),
        workers_({.min_threads = std::min(2, std::max(1, options.max_handler_threads)),
                  .max_threads = std::max(1, options.max_handler_threads)}),
        acceptor_(ioc_) {}

  ~Edge() override {
    // Stop locks mutexes and joins threads; neither fails here, and a destructor must not throw.
    try {
      Stop(absl::ZeroDuration());
    } catch (...) {
    }
  }

  absl::Status Init() {
    beast::error_code ec;
    if (!options_.tls_cert.empty()) {
      tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
      tls_->use_certificate_chain_file(options_.tls_cert, ec);
      if (!ec) tls_->use_private_key_file(options_.tls_key, asio::ssl::context::pem, ec);
      if (ec) return absl::InvalidArgumentError("--tls-cert/--tls-key: not a usable PEM pair");
    }
    auto address = asio::ip::make_address(options_.host, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("--http-listen: \"", options_.host, "\" is not an IP address"));
    }
    tcp::endpoint endpoint(address, static_cast<uint16_t>(options_.port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("--http-listen: cannot listen on ", options_.host,
                                                 ":", options_.port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    // Parsing and TLS never wait on a handler.
    for (int i = 0; i < std::max(1, options_.io_threads); ++i) {
      io_threads_.emplace_back([this] { ioc_.run(); });
    }
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  HttpEdgeStats Stats() const override {
    HttpEdgeStats s;
    s.connections = connections_.load();
    s.peak_connections = peak_connections_.load();
    s.buffered_bytes = buffered_.load();
    s.peak_buffered_bytes = peak_buffered_.load();
    s.requests = requests_.load();
    for (int i = 0; i < kReasonCount; ++i) s.rejected[kReasonNames[i]] = rejected_[i].load();
    return s;
  }

  void Stop(absl::Duration grace) override {
    {
      std::lock_guard<std::mutex> lock(stop_mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    stopping_ = true;
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    {
      // Requests already in a handler are answered (their effects are committed).
      std::unique_lock<std::mutex> lock(inflight_mu_);
      inflight_cv_.wait_for(lock, absl::ToChronoNanoseconds(grace),
                            [this] { return inflight_ == 0; });
    }
    io_stopped_ = true;
    ioc_.stop();
    for (auto& t : io_threads_) t.join();
    io_threads_.clear();
    workers_.shutdown();
  }

  // Called by sessions.
  const HttpEdgeOptions& options() const { return options_; }
  bool stopping() const { return stopping_; }
  bool io_stopped() const { return io_stopped_; }
  void Count(Reason r) { rejected_[r].fetch_add(1, std::memory_order_relaxed); }
  // Moves a connection's accounted bytes from `from` to `to`; false (nothing changed) when the
  // budget would be passed.
  bool Account(int64_t from, int64_t to, bool may_refuse) {
    int64_t delta = to - from;
    int64_t now = buffered_.fetch_add(delta) + delta;
    if (may_refuse && delta > 0 && now > options_.max_buffered_bytes) {
      buffered_.fetch_sub(delta);
      return false;
    }
    int64_t peak = peak_buffered_.load();
    while (now > peak && !peak_buffered_.compare_exchange_weak(peak, now)) {
    }
    return true;
  }
  std::optional<HttpResponse> CheckHead(const HttpRequest& head) { return head_check_(head); }

  template <class Session>
  void Handle(std::shared_ptr<Session> session, HttpRequest request,
              std::function<void(std::shared_ptr<Session>, HttpResponse)> done) {
    requests_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(inflight_mu_);
      ++inflight_;
    }
    workers_.enqueue([this, session = std::move(session), request = std::move(request),
                      done = std::move(done)]() mutable {
      HttpResponse response = handler_(request);
      if (response.stream) {
        session->StreamResponse(response);
      } else {
        done(std::move(session), std::move(response));
      }
      std::lock_guard<std::mutex> lock(inflight_mu_);
      if (--inflight_ == 0) inflight_cv_.notify_all();
    });
  }

  void ConnectionClosed(const std::string& client) {
    connections_.fetch_sub(1);
    std::lock_guard<std::mutex> lock(clients_mu_);
    auto it = clients_.find(client);
    if (it != clients_.end() && --it->second <= 0) clients_.erase(it);
  }

 private:
  void Accept() {
    acceptor_.async_accept(
        asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
          if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
          if (ec) {
            // Out of descriptors or similar: try again shortly rather than spin.
            auto timer = std::make_shared<asio::steady_timer>(ioc_, std::chrono::milliseconds(50));
            timer->async_wait([this, timer](beast::error_code) {
              if (acceptor_.is_open()) Accept();
            });
            return;
          }
          OnAccept(std::move(socket));
          Accept();
        });
  }

  void OnAccept(tcp::socket socket) {
    beast::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    if (ec) return;
    std::string client = peer.address().to_string();
    if (connections_.load() >= options_.max_connections) {
      Count(kConnectionLimit);
      socket.close(ec);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(clients_mu_);
      int& n = clients_[client];
      if (n >= options_.max_connections_per_client) {
        Count(kClientConnectionLimit);
        socket.close(ec);
        return;
      }
      ++n;
    }
    int64_t open = connections_.fetch_add(1) + 1;
    int64_t peak = peak_connections_.load();
    while (open > peak && !peak_connections_.compare_exchange_weak(peak, open)) {
    }
    socket.set_option(tcp::no_delay(true), ec);
    if (tls_ != nullptr) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          this, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls_),
          std::move(client))
          ->Start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(this, beast::tcp_stream(std::move(socket)),
                                                   std::move(client))
          ->Start();
    }
  }

  const HttpEdgeOptions options_;
  const HeadCheck head_check_;
  const Handler handler_;
  std::atomic<int64_t> connections_{0}, peak_connections_{0}, buffered_{0}, peak_buffered_{0},
      requests_{0};
  std::array<std::atomic<int64_t>, kReasonCount> rejected_{};
  std::mutex clients_mu_;
  std::unordered_map<std::string, int> clients_;  // open connections per client address
  std::mutex inflight_mu_;
  std::condition_variable inflight_cv_;
  int inflight_ = 0;
  std::mutex stop_mu_;
  bool stopped_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> io_stopped_{false};
  HttpWorkers workers_;
  // Destroyed before the counters above: its pending handlers own sessions that report to them.
  asio::io_context ioc_;
  std::unique_ptr<asio::ssl::context> tls_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::vector<std::thread> io_threads_;
};

template <class Stream>
Session<Stream>::Session(Edge* edge, Stream stream, std::string client)
    : edge_(edge),
      stream_(std::move(stream)),
      client_(std::move(client)),
      buffer_(static_cast<size_t>(edge->options().max_head_bytes) + 16384) {}

template <class Stream>
Session<Stream>::~Session() {
  edge_->Account(held_, 0, false);
  edge_->ConnectionClosed(client_);
}

template <class Stream>
void Session<Stream>::Start() {
  // A new connection has one head timeout for everything up to its first request's head,
  // the TLS handshake included.
  Lowest().expires_after(Chrono(edge_->options().head_timeout));
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    StartRequest(/*first=*/true);
  } else {
    stream_.async_handshake(
        asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
          if (ec) {
            self->edge_->Count(ec == beast::error::timeout ? kHeadTimeout : kTlsHandshake);
            self->phase_ = Phase::kClosing;
            return;  // dropping the last reference closes the socket
          }
          self->StartRequest(/*first=*/true);
        });
  }
}

template <class Stream>
void Session<Stream>::Hold() {
  int64_t now = static_cast<int64_t>(buffer_.capacity()) + body_reserved_;
  edge_->Account(held_, now, false);
  held_ = now;
}

template <class Stream>
void Session<Stream>::StartRequest(bool first) {
  const HttpEdgeOptions& o = edge_->options();
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(o.max_head_bytes));
  parser_->body_limit(static_cast<uint64_t>(o.max_body_bytes));
  head_ = HttpRequest();
  body_reserved_ = 0;
  if (buffer_.size() == 0) buffer_.shrink_to_fit();
  Hold();
  if (buffer_.size() > 0) {
    // The next request was already sent (pipelined).
    phase_ = Phase::kHead;
    Lowest().expires_after(Chrono(o.head_timeout));
    Parse();
    return;
  }
  phase_ = first ? Phase::kHead : Phase::kIdle;
  if (!first) Lowest().expires_after(Chrono(o.idle_timeout));
  Read();
}

template <class Stream>
void Session<Stream>::Read() {
  if (edge_->stopping()) return Close();
  size_t room = buffer_.max_size() - buffer_.size();
  if (room == 0) return Refuse(kHeadTooLarge, 431, "request head too large");
  // Small reads while a head arrives keep an idle connection's buffer small.
  size_t chunk = phase_ == Phase::kBody ? 16384 : 2048;
  stream_.async_read_some(
      buffer_.prepare(std::min(room, chunk)),
      [self = this->shared_from_this()](beast::error_code ec, size_t n) { self->OnRead(ec, n); });
}

template <class Stream>
void Session<Stream>::OnRead(beast::error_code ec, size_t n) {
  if (ec == beast::error::timeout) {
    switch (phase_) {
      case Phase::kIdle:
        edge_->Count(kIdleTimeout);
        break;
      case Phase::kHead:
        edge_->Count(kHeadTimeout);
        break;
      default:
        edge_->Count(kBodyTimeout);
        break;
    }
    // The connection is dead to us; no answer is owed to a client this slow.
    phase_ = Phase::kClosing;
    return;
  }
  if (ec) {
    phase_ = Phase::kClosing;
    return;
  }
  buffer_.commit(n);
  if (phase_ == Phase::kIdle) {
    // A request has started: from its first byte it has head_timeout for the whole head.
    phase_ = Phase::kHead;
    Lowest().expires_after(Chrono(edge_->options().head_timeout));
  }
  Parse();
}

template <class Stream>
void Session<Stream>::Parse() {
  const HttpEdgeOptions& o = edge_->options();
  while (buffer_.size() > 0) {
    if (phase_ == Phase::kBody) {
      // Grow the body at most to its limit, so that a chunked body never holds more than that.
      std::string& body = parser_->get().body();
      size_t want = std::min<size_t>(static_cast<size_t>(o.max_body_bytes),
                                     std::max(body.size() * 2, body.size() + buffer_.size()));
      if (want > body.capacity()) {
        int64_t reserved = static_cast<int64_t>(want);
        if (!edge_->Account(held_, held_ - body_reserved_ + reserved, true)) {
          return Refuse(kBusy, 503, "too many request bodies are being received; try again");
        }
        held_ += reserved - body_reserved_;
        body_reserved_ = reserved;
        body.reserve(want);
      }
    }
    beast::error_code ec;
    size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) break;
    if (ec == http::error::header_limit)
      return Refuse(kHeadTooLarge, 431, "request head too large");
    if (ec == http::error::body_limit) {
      return Refuse(kBodyTooLarge, 413,
                    absl::StrCat("body larger than ", o.max_body_bytes, " bytes"));
    }
    if (ec) return Refuse(kMalformed, 400, absl::StrCat("malformed request: ", ec.message()));
    if (phase_ == Phase::kHead && parser_->is_header_done()) {
      if (!OnHead()) return;
    }
    if (parser_->is_done()) return Dispatch();
  }
  if (phase_ == Phase::kHead && parser_->is_header_done()) {
    if (!OnHead()) return;
    if (parser_->is_done()) return Dispatch();
  }
  Read();
}

template <class Stream>
bool Session<Stream>::OnHead() {
  const HttpEdgeOptions& o = edge_->options();
  auto& req = parser_->get();
  int count = 0;
  for (const auto& field : req) {
    if (++count > o.max_headers) {
      Refuse(kTooManyHeaders, 431, absl::StrCat("more than ", o.max_headers, " header fields"));
      return false;
    }
    std::string name(field.name_string().data(), field.name_string().size());
    absl::AsciiStrToLower(&name);
    head_.headers.emplace(std::move(name), std::string(field.value().data(), field.value().size()));
  }
  head_.method = std::string(req.method_string());
  std::string_view target(req.target().data(), req.target().size());
  size_t q = target.find('?');
  head_.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) head_.query = ParseQuery(target.substr(q + 1));
  head_.client = client_;
  if (auto it = head_.headers.find("content-encoding");
      it != head_.headers.end() &&
      absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(it->second))) != "identity") {
    Refuse(kContentEncoding, 415, "Content-Encoding is not accepted; send the body uncompressed");
    return false;
  }
  if (auto it = head_.headers.find("transfer-encoding");
      it != head_.headers.end() &&
      absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(it->second))) != "chunked") {
    Refuse(kTransferEncoding, 501, "only the chunked Transfer-Encoding is accepted");
    return false;
  }
  if (auto answer = edge_->CheckHead(head_); answer.has_value()) {
    // Answered from the head: a body that was announced is not read, so the connection ends.
    bool has_body = parser_->chunked() || parser_->content_length().value_or(0) > 0;
    phase_ = Phase::kWriting;
    Write(*answer, req.keep_alive() && !has_body);
    return false;
  }
  if (auto length = parser_->content_length(); length.has_value() && *length > 0) {
    int64_t reserved = static_cast<int64_t>(*length);
    if (!edge_->Account(held_, held_ + reserved, true)) {
      Refuse(kBusy, 503, "too many request bodies are being received; try again");
      return false;
    }
    held_ += reserved;
    body_reserved_ = reserved;
    req.body().reserve(static_cast<size_t>(*length));
  }
  phase_ = Phase::kBody;
  Lowest().expires_after(Chrono(o.body_timeout));
  if (auto it = head_.headers.find("expect"); it != head_.headers.end() &&
                                              absl::AsciiStrToLower(it->second) == "100-continue" &&
                                              !parser_->is_done()) {
    out_ = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(out_),
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) {
                          self->phase_ = Phase::kClosing;
                          return;
                        }
                        self->Parse();
                      });
    return false;
  }
  return true;
}

template <class Stream>
void Session<Stream>::Dispatch() {
  phase_ = Phase::kHandling;
  Lowest().expires_never();
  const bool keep_alive = parser_->get().keep_alive();
  HttpRequest request = std::move(head_);
  request.body = std::move(parser_->get().body());
  edge_->Handle<Session<Stream>>(
      this->shared_from_this(), std::move(request),
      [keep_alive](std::shared_ptr<Session<Stream>> self, HttpResponse response) {
        asio::post(self->stream_.get_executor(),
                   [self, keep_alive, response = std::move(response)]() mutable {
                     self->Write(response, keep_alive && !self->edge_->stopping());
                   });
      });
}

template <class Stream>
void Session<Stream>::Write(const HttpResponse& response, bool keep_alive) {
  phase_ = Phase::kWriting;
  // The request's body is gone: only the head buffer stays accounted.
  body_reserved_ = 0;
  Hold();
  out_ = Serialize(response, keep_alive);
  Lowest().expires_after(Chrono(edge_->options().write_timeout));
  asio::async_write(stream_, asio::buffer(out_),
                    [self = this->shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                      if (ec == beast::error::timeout) self->edge_->Count(kWriteTimeout);
                      if (ec) {
                        self->phase_ = Phase::kClosing;
                        return;
                      }
                      if (!keep_alive) return self->Close();
                      self->StartRequest(/*first=*/false);
                    });
}

template <class Stream>
void Session<Stream>::StreamResponse(const HttpResponse& response) {
  auto self = this->shared_from_this();
  std::string head = SerializeHead(response);
  head += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  bool alive = WriteFromHandler(std::move(head));
  if (alive) asio::post(stream_.get_executor(), [self] { self->WatchPeer(); });
  BodyWriter write = [&](std::string_view piece) {
    if (!alive || peer_gone_.load() || edge_->stopping()) {
      alive = false;
      return false;
    }
    if (piece.empty()) return true;
    alive = WriteFromHandler(Chunk(piece));
    return alive;
  };
  response.stream(write);
  if (alive) WriteFromHandler("0\r\n\r\n");
  asio::post(stream_.get_executor(), [self] {
    // The read WatchPeer keeps pending ends when the client closes, or with this timer.
    beast::error_code ec;
    self->Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    self->Lowest().expires_after(std::chrono::seconds(2));
  });
}

template <class Stream>
bool Session<Stream>::WriteFromHandler(std::string data) {
  struct Done {
    std::mutex mu;
    std::condition_variable cv;
    bool finished = false;
    bool ok = false;
  };
  auto done = std::make_shared<Done>();
  asio::post(stream_.get_executor(),
             [self = this->shared_from_this(), data = std::move(data), done]() mutable {
               self->phase_ = Phase::kWriting;
               self->out_ = std::move(data);
               self->Lowest().expires_after(Chrono(self->edge_->options().write_timeout));
               asio::async_write(self->stream_, asio::buffer(self->out_),
                                 [self, done](beast::error_code ec, size_t) {
                                   if (ec == beast::error::timeout) {
                                     self->edge_->Count(kWriteTimeout);
                                   } else if (!ec) {
                                     // Between pieces a stream may be quiet for long.
                                     self->Lowest().expires_never();
                                   }
                                   std::lock_guard<std::mutex> lock(done->mu);
                                   done->finished = true;
                                   done->ok = !ec;
                                   done->cv.notify_all();
                                 });
             });
  std::unique_lock<std::mutex> lock(done->mu);
  while (!done->cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return done->finished; })) {
    if (edge_->io_stopped()) return false;
  }
  return done->ok;
}

template <class Stream>
void Session<Stream>::WatchPeer() {
  buffer_.clear();
  stream_.async_read_some(buffer_.prepare(4096),
                          [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                            self->drained_ += n;
                            if (ec || self->drained_ > (1 << 20)) {
                              self->peer_gone_ = true;
                              return;
                            }
                            self->WatchPeer();
                          });
}

template <class Stream>
void Session<Stream>::Refuse(Reason reason, int status, const std::string& message) {
  edge_->Count(reason);
  phase_ = Phase::kWriting;
  Write(Refusal(status, message), /*keep_alive=*/false);
}

template <class Stream>
void Session<Stream>::Close() {
  // Half-close, then read and drop what the client still sends for a moment, so that it reads
  // the answer instead of a reset.
  phase_ = Phase::kClosing;
  beast::error_code ec;
  Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return;
  Lowest().expires_after(std::chrono::seconds(2));
  buffer_.clear();
  Lowest().async_read_some(buffer_.prepare(4096),
                           [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                             self->drained_ += n;
                             if (ec || self->drained_ > (1 << 20))
                               return;  // the socket closes with the session
                             self->Close();
                           });
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpEdge>> HttpEdge::Start(const HttpEdgeOptions& options,
                                                          HeadCheck head_check, Handler handler) {
  if (options.max_head_bytes < 1024 || options.max_headers < 1 || options.max_body_bytes < 0 ||
      options.max_connections < 1 || options.max_connections_per_client < 1) {
    return absl::InvalidArgumentError("HTTP edge: limits must be positive");
  }
  auto edge = std::make_unique<Edge>(options, std::move(head_check), std::move(handler));
  try {
    absl::Status s = edge->Init();
    if (!s.ok()) return s;
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("--http-listen: ", e.what()));
  }
  return std::unique_ptr<HttpEdge>(std::move(edge));
}

}  // namespace slipway::server
