// http_request and message: one HTTP request (a message is a JSON {"text": ...} POST, as chat
// webhooks take), optionally signed or with a bearer token; the answer's status decides the
// attempt.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "pipeline/secrets.h"
#include "release/nodes/kinds.h"
#include "release/nodes/support.h"

namespace slipway::release {
namespace {

class HttpRequestKind final : public NodeKind {
 public:
  bool idempotent() const override { return false; }
  NodeStart Start(const NodeContext& ctx) const override {
    const v1::Step& step = ctx.step;
    deploy::HttpRequest req;
    google::protobuf::RepeatedField<int32_t> expect;
    auto resolve = [&](const std::string& text, std::string* out) -> std::optional<NodeStart> {
      auto r = Resolve(text, ctx.values);
      if (!r.ok()) return NodeStart::Fail(std::string(r.status().message()));
      *out = *r;
      return std::nullopt;
    };
    if (step.has_http_request()) {
      const auto& h = step.http_request();
      req.method = h.method().empty() ? "POST" : h.method();
      if (auto f = resolve(h.url(), &req.url)) return *f;
      if (auto f = resolve(h.body(), &req.body)) return *f;
      for (const auto& [k, val] : h.headers()) {
        if (auto f = resolve(val, &req.headers[k])) return *f;
      }
      if (h.has_signing_secret()) {
        auto secret = pipeline::ResolveSecret(h.signing_secret());
        if (!secret.ok()) return NodeStart::Fail(std::string(secret.status().message()));
        req.headers["X-Slipway-Signature-256"] = "sha256=" + HmacSha256Hex(*secret, req.body);
      }
      if (h.has_bearer_token()) {
        auto token = pipeline::ResolveSecret(h.bearer_token());
        if (!token.ok()) return NodeStart::Fail(std::string(token.status().message()));
        req.headers["Authorization"] = "Bearer " + *token;
      }
      expect = h.expect_status();
    } else {
      std::string text;
      if (auto f = resolve(step.message().url(), &req.url)) return *f;
      if (auto f = resolve(step.message().text(), &text)) return *f;
      req.method = "POST";
      req.headers["Content-Type"] = "application/json";
      req.body = nlohmann::json{{"text", text}}.dump();
    }
    req.timeout = std::min(ctx.timeout, absl::Seconds(60));
    deploy::HttpClient* http = ctx.http;
    return NodeStart::Work([=]() {
      NodeResult c;
      auto resp = http->Send(req);
      if (!resp.ok()) {
        c.status = resp.status();
        return c;
      }
      c.outputs = {{"status", absl::StrCat(resp->status)},
                   {"body", Truncate(resp->body, kMaxOutputBytes)}};
      c.log.push_back(absl::StrCat(req.method, " ", req.url, ": ", resp->status));
      if (!StatusExpected(resp->status, expect, 200, 299)) {
        c.status =
            absl::InternalError(absl::StrCat(req.method, " ", req.url, " answered ", resp->status));
      }
      return c;
    });
  }
};

}  // namespace

const NodeKind* HttpRequestNodeKind() {
  static const HttpRequestKind kind;
  return &kind;
}

}  // namespace slipway::release
