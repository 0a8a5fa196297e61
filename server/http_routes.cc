#include "server/http_routes.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/proto_yaml.h"
#include "common/status_macros.h"
#include "preview/preview_manager.h"
#include "server/connect_gateway.h"
#include "server/metrics.h"
#include "server/ui_assets.h"
#include "storage/database.h"
#include "storage/run_repository.h"
#include "trigger/intake.h"

namespace slipway::server {
namespace {

constexpr std::string_view kHooks = "/hooks/";
constexpr std::string_view kGeneric = "/hooks/t/";

// absl::StartsWith takes Debian's absl::string_view, not std::string_view (TOOLCHAIN.md).
bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

HttpResponse Json(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return r;
}

HttpResponse Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

bool IsToken(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// The provider a /hooks/<name> path names, if it is one.
std::optional<v1::Provider> HookProvider(std::string_view path) {
  if (!StartsWith(path, kHooks)) return std::nullopt;
  auto p = trigger::ProviderFromName(path.substr(kHooks.size()));
  if (!p.ok()) return std::nullopt;
  return *p;
}

// The dashboard's page and its two files, with a policy that lets the page run only its own
// script and style and talk only to this origin.
std::optional<HttpResponse> UiFile(const HttpRequest& head) {
  const bool assets = StartsWith(head.path, "/assets/");
  if (head.path != "/" && !assets) return std::nullopt;
  HttpResponse r;
  if (head.method != "GET") {
    r = Text(405, "use GET\n");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  for (const UiAsset& a : UiAssets()) {
    if (a.path != head.path) continue;
    r.content_type = std::string(a.content_type);
    r.body = std::string(a.body);
    r.headers = {
        {"Content-Security-Policy",
         "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
         "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {"X-Frame-Options", "DENY"},
        {"Cross-Origin-Opener-Policy", "same-origin"},
        {"Cache-Control", "no-cache"},
    };
    return r;
  }
  return Text(404, "no such file\n");
}

// Adds Retry-After to a 503, the answer when the store cannot take the delivery.
HttpResponse WithRetry(HttpResponse r) {
  if (r.status == 503) r.headers.emplace_back("Retry-After", "30");
  return r;
}

}  // namespace

std::optional<HttpResponse> HttpRoutes::Head(const HttpRequest& head) const {
  const std::string& path = head.path;
  if (std::optional<HttpResponse> file = UiFile(head); file.has_value()) {
    // Answered from memory on the I/O thread.
    deps_.metrics->ObserveHttp("ui", file->status);
    return file;
  }
  if (deps_.connect != nullptr && ConnectGateway::Serves(path)) {
    std::optional<HttpResponse> refused = deps_.connect->Head(head);
    if (refused.has_value()) deps_.metrics->ObserveHttp("connect", refused->status);
    return refused;
  }
  if (path == "/healthz" || path == "/readyz" || path == "/metrics") {
    if (head.method != "GET") {
      deps_.metrics->ObserveHttp(path, 405);
      HttpResponse r = Text(405, "use GET\n");
      r.headers.emplace_back("Allow", "GET");
      return r;
    }
    if (path == "/healthz") {
      // Answered on the I/O thread: never waits behind webhook handlers.
      deps_.metrics->ObserveHttp("/healthz", 200);
      return Text(200, "ok\n");
    }
    return std::nullopt;
  }
  const bool generic = StartsWith(path, kGeneric) && IsToken(path.substr(kGeneric.size()));
  if (!generic && !HookProvider(path).has_value()) {
    deps_.metrics->ObserveHttp("other", 404);
    return Json(404, {{"status", "no such endpoint"}});
  }
  const char* label = generic ? "/hooks/t" : "/hooks";
  if (head.method != "POST") {
    deps_.metrics->ObserveHttp(label, 405);
    HttpResponse r = Json(405, {{"status", "webhooks are POSTed"}});
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  // Form-encoded deliveries (GitHub's `payload=` option) are refused plainly, before the body
  // is read.
  auto type = head.headers.find("content-type");
  if (type != head.headers.end() &&
      StartsWith(absl::AsciiStrToLower(type->second), "application/x-www-form-urlencoded")) {
    deps_.metrics->ObserveHttp(label, 415);
    return Json(415, {{"status", "send webhooks as application/json"}});
  }
  return std::nullopt;
}

HttpResponse HttpRoutes::Handle(HttpRequest& request) const {
  if (deps_.connect != nullptr && ConnectGateway::Serves(request.path)) {
    HttpResponse r = deps_.connect->Handle(request);
    deps_.metrics->ObserveHttp("connect", r.status);
    return r;
  }
  if (request.path == "/readyz") return Ready();
  if (request.path == "/metrics") return RenderMetrics();
  if (StartsWith(request.path, kGeneric)) return WithRetry(GenericHook(request));
  return WithRetry(Hook(request));
}

HttpResponse HttpRoutes::Hook(HttpRequest& request) const {
  std::optional<v1::Provider> provider = HookProvider(request.path);
  if (!provider.has_value()) return Json(404, {{"status", "no such endpoint"}});
  trigger::IntakeResult r =
      deps_.intake->Handle(*provider, request.headers, request.body, request.client);
  nlohmann::json body = {{"status", r.message}};
  if (!r.delivery.id().empty()) body["delivery"] = r.delivery.id();
  nlohmann::json runs = nlohmann::json::array();
  nlohmann::json previews = nlohmann::json::array();
  // A delivery that was not committed names nothing it would have started.
  if (r.status < 300) {
    for (const auto& m : r.delivery.matches()) {
      if (!m.run_id().empty()) runs.push_back(m.run_id());
      if (!m.preview_action().empty()) {
        previews.push_back({{"preview", m.preview()}, {"action", m.preview_action()}});
      }
    }
  }
  body["runs"] = runs;
  if (!previews.empty()) body["previews"] = previews;
  deps_.metrics->ObserveHttp(request.path, r.status);
  ObserveDelivery(r);
  return Json(r.status, body);
}

HttpResponse HttpRoutes::GenericHook(HttpRequest& request) const {
  std::string token = request.path.substr(kGeneric.size());
  trigger::IntakeResult r = deps_.intake->HandleGeneric(token, request.headers, request.query,
                                                        request.body, request.client);
  nlohmann::json body = {{"status", r.message}};
  if (r.status != 404 && !r.delivery.id().empty()) body["delivery"] = r.delivery.id();
  if (r.status < 300) {
    for (const auto& m : r.delivery.matches()) {
      if (!m.run_id().empty()) body["run"] = m.run_id();
    }
  }
  deps_.metrics->ObserveHttp("/hooks/t", r.status);
  ObserveDelivery(r);
  return Json(r.status, body);
}

void HttpRoutes::ObserveDelivery(const trigger::IntakeResult& r) const {
  const v1::Delivery& d = r.delivery;
  deps_.metrics->ObserveDelivery(
      EnumShortName(v1::Provider_descriptor()->FindValueByNumber(d.provider())),
      EnumShortName(v1::SignatureVerdict_descriptor()->FindValueByNumber(d.signature())), r.status);
}

HttpResponse HttpRoutes::Ready() const {
  absl::Status s =
      deps_.serving() ? deps_.db->CheckWritable() : absl::UnavailableError("shutting down");
  deps_.metrics->ObserveHttp("/readyz", s.ok() ? 200 : 503);
  if (s.ok()) return Text(200, "ready\n");
  return Text(503, absl::StrCat("not ready: ", s.message(), "\n"));
}

HttpResponse HttpRoutes::RenderMetrics() const {
  deps_.metrics->ObserveHttp("/metrics", 200);
  if (deps_.previews != nullptr) deps_.metrics->SetPreviewCounts(deps_.previews->CountByState());
  int64_t held = 0;
  absl::Status counted = deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto holds, storage::StageHoldRepository().List(tx));
    held = static_cast<int64_t>(holds.size());
    return absl::OkStatus();
  });
  if (counted.ok()) deps_.metrics->SetStagesHeld(held);
  if (deps_.edge_stats) {
    HttpEdgeStats s = deps_.edge_stats();
    deps_.metrics->SetHttpEdge(s.connections, s.buffered_bytes, s.rejected);
  }
  deps_.metrics->SetUnrecordedRejections(deps_.intake->UnrecordedRejections());
  HttpResponse r = Text(200, deps_.metrics->Render());
  r.content_type = "text/plain; version=0.0.4";
  return r;
}

}  // namespace slipway::server
