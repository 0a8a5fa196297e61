#include "server/connect_gateway.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/status.pb.h"

namespace slipway::server {
namespace {

namespace pb = google::protobuf;

constexpr std::string_view kPrefix = "/slipway.v1.";
constexpr std::array<std::string_view, 6> kServices = {"PipelineService", "AdminService",
                                                       "AuditService",    "ReleaseService",
                                                       "DeliveryService", "PreviewService"};

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The method a Connect path names, if it is one of the served services'.
const pb::MethodDescriptor* FindMethod(std::string_view path) {
  if (!StartsWith(path, kPrefix)) return nullptr;
  std::string_view rest = path.substr(kPrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return nullptr;
  std::string_view service = rest.substr(0, slash);
  std::string_view method = rest.substr(slash + 1);
  if (method.empty() || method.size() > 64) return nullptr;
  if (std::find(kServices.begin(), kServices.end(), service) == kServices.end()) return nullptr;
  const pb::ServiceDescriptor* s = pb::DescriptorPool::generated_pool()->FindServiceByName(
      absl::StrCat("slipway.v1.", std::string(service)));
  if (s == nullptr) return nullptr;
  return s->FindMethodByName(std::string(method));
}

std::unique_ptr<pb::Message> NewMessage(const pb::Descriptor* d) {
  return std::unique_ptr<pb::Message>(
      pb::MessageFactory::generated_factory()->GetPrototype(d)->New());
}

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Connect's error object: code, message, and the google.rpc details of the status, each with
// its type, its bytes in unpadded base64 and, when slipwayd knows the type, a readable copy.
nlohmann::json ErrorJson(const grpc::Status& s) {
  nlohmann::json e = {{"code", std::string(ConnectCodeOf(s.error_code()).name)}};
  if (!s.error_message().empty()) e["message"] = s.error_message();
  google::rpc::Status details;
  if (s.error_details().empty() || !details.ParseFromString(s.error_details())) return e;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& any : details.details()) {
    std::string type = any.type_url().substr(any.type_url().rfind('/') + 1);
    std::string value = absl::Base64Escape(any.value());
    while (!value.empty() && value.back() == '=') value.pop_back();
    nlohmann::json d = {{"type", type}, {"value", value}};
    if (const pb::Descriptor* desc =
            pb::DescriptorPool::generated_pool()->FindMessageTypeByName(type);
        desc != nullptr) {
      auto m = NewMessage(desc);
      std::string json;
      if (m->ParseFromString(any.value()) && pb::util::MessageToJsonString(*m, &json).ok()) {
        d["debug"] = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
      }
    }
    out.push_back(std::move(d));
  }
  if (!out.empty()) e["details"] = std::move(out);
  return e;
}

// The trailing metadata a client may read (slipway-error-reason), by name.
std::vector<std::pair<std::string, std::string>> SlipwayTrailers(const grpc::ClientContext& ctx) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : ctx.GetServerTrailingMetadata()) {
    std::string key(k.data(), k.size());
    if (StartsWith(key, "slipway-"))
      out.emplace_back(std::move(key), std::string(v.data(), v.size()));
  }
  return out;
}

HttpResponse UnaryError(const grpc::Status& s,
                        const std::vector<std::pair<std::string, std::string>>& trailers = {}) {
  HttpResponse r;
  r.status = ConnectCodeOf(s.error_code()).http_status;
  r.content_type = "application/json";
  r.body = Dump(ErrorJson(s));
  for (const auto& [k, v] : trailers) r.headers.emplace_back("trailer-" + k, v);
  return r;
}

// A protocol-level refusal that Connect answers with a plain HTTP status.
HttpResponse Plain(int status, std::string_view message,
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::string(message) + "\n";
  r.headers = std::move(headers);
  return r;
}

enum class Encoding { kJson, kProto };

// The encoding a content type asks for, for a unary (`application/...`) or streaming
// (`application/connect+...`) call; nullopt when it is neither.
std::optional<Encoding> EncodingOf(std::string_view content_type, bool streaming) {
  std::string t(content_type.substr(0, content_type.find(';')));
  t = absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(t)));
  const std::string_view base = streaming ? "application/connect+" : "application/";
  if (!StartsWith(t, base)) return std::nullopt;
  std::string_view sub = std::string_view(t).substr(base.size());
  if (sub == "json") return Encoding::kJson;
  if (sub == "proto") return Encoding::kProto;
  return std::nullopt;
}

std::string Header(const HttpRequest& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

std::string Envelope(uint8_t flags, std::string_view data) {
  std::string out(5, '\0');
  out[0] = static_cast<char>(flags);
  const auto n = static_cast<uint32_t>(data.size());
  out[1] = static_cast<char>((n >> 24) & 0xff);
  out[2] = static_cast<char>((n >> 16) & 0xff);
  out[3] = static_cast<char>((n >> 8) & 0xff);
  out[4] = static_cast<char>(n & 0xff);
  out.append(data);
  return out;
}

// The end of a stream: its error (absent when it ended well) and trailing metadata.
std::string EndOfStream(const grpc::Status& s,
                        const std::vector<std::pair<std::string, std::string>>& trailers) {
  nlohmann::json end = nlohmann::json::object();
  if (!s.ok()) end["error"] = ErrorJson(s);
  if (!trailers.empty()) {
    nlohmann::json md = nlohmann::json::object();
    for (const auto& [k, v] : trailers) md[k].push_back(v);
    end["metadata"] = std::move(md);
  }
  return Envelope(0x02, Dump(end));
}

}  // namespace

ConnectCode ConnectCodeOf(int grpc_code) {
  switch (grpc_code) {
    case grpc::StatusCode::OK:
      return {"ok", 200};
    case grpc::StatusCode::CANCELLED:
      return {"canceled", 499};
    case grpc::StatusCode::UNKNOWN:
      return {"unknown", 500};
    case grpc::StatusCode::INVALID_ARGUMENT:
      return {"invalid_argument", 400};
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return {"deadline_exceeded", 504};
    case grpc::StatusCode::NOT_FOUND:
      return {"not_found", 404};
    case grpc::StatusCode::ALREADY_EXISTS:
      return {"already_exists", 409};
    case grpc::StatusCode::PERMISSION_DENIED:
      return {"permission_denied", 403};
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return {"resource_exhausted", 429};
    case grpc::StatusCode::FAILED_PRECONDITION:
      return {"failed_precondition", 400};
    case grpc::StatusCode::ABORTED:
      return {"aborted", 409};
    case grpc::StatusCode::OUT_OF_RANGE:
      return {"out_of_range", 400};
    case grpc::StatusCode::UNIMPLEMENTED:
      return {"unimplemented", 501};
    case grpc::StatusCode::INTERNAL:
      return {"internal", 500};
    case grpc::StatusCode::UNAVAILABLE:
      return {"unavailable", 503};
    case grpc::StatusCode::DATA_LOSS:
      return {"data_loss", 500};
    case grpc::StatusCode::UNAUTHENTICATED:
      return {"unauthenticated", 401};
    default:
      return {"unknown", 500};
  }
}

struct ConnectGateway::Impl {
  Impl(std::shared_ptr<grpc::Channel> channel, ConnectGatewayOptions options)
      : channel(std::move(channel)), stub(this->channel), options(std::move(options)) {}

  std::shared_ptr<grpc::Channel> channel;
  mutable grpc::GenericStub stub;
  const ConnectGatewayOptions options;
  mutable std::atomic<int> streams{0};

  // The call's deadline: Connect-Timeout-Ms when given (at most `max`), else `fallback`.
  absl::StatusOr<absl::Duration> Timeout(const HttpRequest& r, absl::Duration fallback,
                                         absl::Duration max) const {
    std::string given = Header(r, "connect-timeout-ms");
    if (given.empty()) return fallback;
    int64_t ms = 0;
    if (given.size() > 10 || !absl::SimpleAtoi(given, &ms) || ms <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Connect-Timeout-Ms: \"", given.substr(0, 16),
                       "\" is not a positive number of milliseconds (at most 10 digits)"));
    }
    return std::min(absl::Milliseconds(ms), max);
  }

  void Prepare(grpc::ClientContext* ctx, const HttpRequest& r, absl::Duration timeout) const {
    if (std::string auth = Header(r, "authorization"); !auth.empty()) {
      ctx->AddMetadata("authorization", auth);
    }
    // For the audit trail and pipeline revisions: whose call this is, and the client it says
    // it is (the dashboard sends "slipway-client: dashboard").
    if (!options.peer_key.empty()) {
      ctx->AddMetadata("slipway-gateway-key", options.peer_key);
      ctx->AddMetadata("slipway-peer", r.client);
    }
    if (std::string client = Header(r, "slipway-client");
        client == "dashboard" || client == "cli") {
      ctx->AddMetadata("slipway-client", client);
    }
    ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  }

  // Reads the request message in `encoding`; INVALID_ARGUMENT names the message type.
  grpc::Status Decode(const pb::Descriptor* type, Encoding encoding, std::string_view data,
                      std::string* bytes) const {
    if (encoding == Encoding::kProto) {
      *bytes = std::string(data);
      return grpc::Status::OK;
    }
    auto message = NewMessage(type);
    if (!data.empty()) {
      pb::util::JsonParseOptions parse;
      auto parsed = pb::util::JsonStringToMessage(pb::StringPiece(data.data(), data.size()),
                                                  message.get(), parse);
      if (!parsed.ok()) {
        return {grpc::StatusCode::INVALID_ARGUMENT,
                absl::StrCat("request body: not a ", type->full_name(),
                             " in JSON: ", std::string(parsed.message()))};
      }
    }
    *bytes = message->SerializeAsString();
    return grpc::Status::OK;
  }

  // The response message in `encoding`.
  grpc::Status Encode(const pb::Descriptor* type, Encoding encoding, std::string bytes,
                      std::string* out) const {
    if (encoding == Encoding::kProto) {
      *out = std::move(bytes);
      return grpc::Status::OK;
    }
    auto message = NewMessage(type);
    if (!message->ParseFromString(bytes)) {
      return {grpc::StatusCode::INTERNAL,
              absl::StrCat("the server's ", type->full_name(), " did not decode")};
    }
    auto printed = pb::util::MessageToJsonString(*message, out);
    if (!printed.ok()) return {grpc::StatusCode::INTERNAL, std::string(printed.message())};
    return grpc::Status::OK;
  }

  HttpResponse Unary(const pb::MethodDescriptor* m, const HttpRequest& request,
                     Encoding encoding) const {
    auto timeout = Timeout(request, options.default_timeout, options.max_timeout);
    if (!timeout.ok()) {
      return UnaryError(
          {grpc::StatusCode::INVALID_ARGUMENT, std::string(timeout.status().message())});
    }
    std::string in;
    if (grpc::Status s = Decode(m->input_type(), encoding, request.body, &in); !s.ok()) {
      return UnaryError(s);
    }
    grpc::ClientContext ctx;
    Prepare(&ctx, request, *timeout);
    grpc::CompletionQueue cq;
    grpc::ByteBuffer req = ToBuffer(in), resp;
    auto call = stub.PrepareUnaryCall(&ctx, request.path, req, &cq);
    call->StartCall();
    grpc::Status status;
    call->Finish(&resp, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    cq.Next(&tag, &ok);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    if (!status.ok()) return UnaryError(status, SlipwayTrailers(ctx));
    HttpResponse r;
    r.content_type = encoding == Encoding::kJson ? "application/json" : "application/proto";
    if (grpc::Status s = Encode(m->output_type(), encoding, FromBuffer(resp), &r.body); !s.ok()) {
      return UnaryError(s);
    }
    return r;
  }

  HttpResponse Stream(const pb::MethodDescriptor* m, const HttpRequest& request,
                      Encoding encoding) const {
    HttpResponse r;
    r.content_type =
        encoding == Encoding::kJson ? "application/connect+json" : "application/connect+proto";
    // Errors found before the stream starts end it at once, still with 200 (Connect's rule).
    auto refuse = [&](grpc::StatusCode code, const std::string& message) {
      r.body = EndOfStream({code, message}, {});
      return r;
    };
    auto timeout = Timeout(request, options.max_stream, options.max_stream);
    if (!timeout.ok()) {
      return refuse(grpc::StatusCode::INVALID_ARGUMENT, std::string(timeout.status().message()));
    }
    if (std::string enc = absl::AsciiStrToLower(Header(request, "connect-content-encoding"));
        !enc.empty() && enc != "identity") {
      return refuse(grpc::StatusCode::UNIMPLEMENTED,
                    absl::StrCat("Connect-Content-Encoding \"", enc.substr(0, 32),
                                 "\" is not accepted; send messages uncompressed"));
    }
    const std::string& body = request.body;
    if (body.size() < 5) {
      return refuse(
          grpc::StatusCode::INVALID_ARGUMENT,
          "request body: one enveloped message expected (5-byte prefix, then the message)");
    }
    const auto flags = static_cast<uint8_t>(body[0]);
    const uint32_t length = (static_cast<uint32_t>(static_cast<uint8_t>(body[1])) << 24) |
                            (static_cast<uint32_t>(static_cast<uint8_t>(body[2])) << 16) |
                            (static_cast<uint32_t>(static_cast<uint8_t>(body[3])) << 8) |
                            static_cast<uint32_t>(static_cast<uint8_t>(body[4]));
    if ((flags & 0x01) != 0) {
      return refuse(grpc::StatusCode::UNIMPLEMENTED,
                    "request body: compressed messages are not accepted");
    }
    if (flags != 0 || length != body.size() - 5) {
      return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                    absl::StrCat("request body: the envelope says ", length, " bytes with flags ",
                                 flags, "; ", body.size() - 5, " bytes follow it"));
    }
    std::string in;
    if (grpc::Status s = Decode(m->input_type(), encoding, std::string_view(body).substr(5), &in);
        !s.ok()) {
      return refuse(s.error_code(), s.error_message());
    }
    if (streams.fetch_add(1) >= options.max_streams) {
      streams.fetch_sub(1);
      return refuse(grpc::StatusCode::RESOURCE_EXHAUSTED,
                    absl::StrCat("more than ", options.max_streams,
                                 " streams are open; close one or try again later"));
    }
    r.stream = [this, m, encoding, in = std::move(in), path = request.path,
                auth = Header(request, "authorization"),
                timeout = *timeout](const BodyWriter& write) {
      HttpRequest head;
      if (!auth.empty()) head.headers["authorization"] = auth;
      RunStream(m, encoding, path, in, head, timeout, write);
      streams.fetch_sub(1);
    };
    return r;
  }

  void RunStream(const pb::MethodDescriptor* m, Encoding encoding, const std::string& path,
                 const std::string& in, const HttpRequest& head, absl::Duration timeout,
                 const BodyWriter& write) const {
    grpc::ClientContext ctx;
    Prepare(&ctx, head, timeout);
    grpc::CompletionQueue cq;
    auto call = stub.PrepareCall(&ctx, path, &cq);
    bool client_gone = false;
    // One operation is outstanding at a time; while it waits, the client is checked on.
    auto wait = [&] {
      while (true) {
        void* tag = nullptr;
        bool ok = false;
        auto next = cq.AsyncNext(
            &tag, &ok,
            std::chrono::system_clock::now() + absl::ToChronoMilliseconds(options.stream_check));
        if (next == grpc::CompletionQueue::GOT_EVENT) return ok;
        if (next == grpc::CompletionQueue::SHUTDOWN) return false;
        if (!client_gone && !write("")) {
          client_gone = true;
          ctx.TryCancel();
        }
      }
    };
    call->StartCall(reinterpret_cast<void*>(1));
    bool ok = wait();
    if (ok) {
      grpc::ByteBuffer req = ToBuffer(in);
      call->WriteLast(req, grpc::WriteOptions(), reinterpret_cast<void*>(2));
      ok = wait();
    }
    grpc::Status failed = grpc::Status::OK;
    while (ok) {
      grpc::ByteBuffer buf;
      call->Read(&buf, reinterpret_cast<void*>(3));
      if (!wait()) break;
      std::string out;
      if (grpc::Status s = Encode(m->output_type(), encoding, FromBuffer(buf), &out); !s.ok()) {
        failed = s;
        ctx.TryCancel();
        continue;
      }
      if (!client_gone && !write(Envelope(0, out))) {
        client_gone = true;
        ctx.TryCancel();
      }
    }
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(4));
    wait();
    cq.Shutdown();
    void* tag = nullptr;
    while (cq.Next(&tag, &ok)) {
    }
    if (client_gone) return;
    if (!failed.ok()) status = failed;
    write(EndOfStream(status, SlipwayTrailers(ctx)));
  }
};

ConnectGateway::ConnectGateway(std::shared_ptr<grpc::Channel> channel,
                               ConnectGatewayOptions options)
    : impl_(std::make_unique<Impl>(std::move(channel), std::move(options))) {}

ConnectGateway::~ConnectGateway() = default;

bool ConnectGateway::Serves(std::string_view path) { return StartsWith(path, kPrefix); }

int ConnectGateway::open_streams() const { return impl_->streams.load(); }

std::optional<HttpResponse> ConnectGateway::Head(const HttpRequest& head) const {
  const pb::MethodDescriptor* m = FindMethod(head.path);
  if (m == nullptr) return Plain(404, absl::StrCat("no method ", head.path.substr(0, 128)));
  if (head.method != "POST") {
    return Plain(405, "Connect calls are POSTed", {{"Allow", "POST"}});
  }
  const bool streaming = m->server_streaming();
  if (m->client_streaming() || !EncodingOf(Header(head, "content-type"), streaming).has_value()) {
    return Plain(415,
                 streaming ? "send application/connect+json or application/connect+proto"
                           : "send application/json or application/proto",
                 {{"Accept-Post", streaming ? "application/connect+json, application/connect+proto"
                                            : "application/json, application/proto"}});
  }
  if (std::string v = Header(head, "connect-protocol-version"); !v.empty() && v != "1") {
    return UnaryError({grpc::StatusCode::INVALID_ARGUMENT,
                       absl::StrCat("Connect-Protocol-Version \"", v.substr(0, 16),
                                    "\" is not supported; 1 is")});
  }
  int64_t length = 0;
  if (std::string l = Header(head, "content-length");
      !l.empty() && absl::SimpleAtoi(l, &length) && length > impl_->options.max_request_bytes) {
    return UnaryError({grpc::StatusCode::RESOURCE_EXHAUSTED,
                       absl::StrCat("request body: ", length, " bytes is more than the limit of ",
                                    impl_->options.max_request_bytes)});
  }
  return std::nullopt;
}

HttpResponse ConnectGateway::Handle(HttpRequest& request) const {
  if (auto refused = Head(request); refused.has_value()) return *std::move(refused);
  if (static_cast<int64_t>(request.body.size()) > impl_->options.max_request_bytes) {
    // A chunked body is only counted once it has arrived.
    return UnaryError(
        {grpc::StatusCode::RESOURCE_EXHAUSTED,
         absl::StrCat("request body: ", request.body.size(), " bytes is more than the limit of ",
                      impl_->options.max_request_bytes)});
  }
  const pb::MethodDescriptor* m = FindMethod(request.path);
  const bool streaming = m->server_streaming();
  Encoding encoding = *EncodingOf(Header(request, "content-type"), streaming);
  return streaming ? impl_->Stream(m, request, encoding) : impl_->Unary(m, request, encoding);
}

}  // namespace slipway::server
