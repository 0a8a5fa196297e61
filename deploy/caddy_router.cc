#include "deploy/caddy_router.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "deploy/unix_http.h"
#include "nlohmann/json.hpp"

namespace slipway::deploy {
namespace {

nlohmann::json RouteJson(const Route& r) {
  return {{"@id", r.id},
          {"match", {{{"host", {r.host}}}}},
          {"handle", {{{"handler", "reverse_proxy"}, {"upstreams", {{{"dial", r.upstream}}}}}}},
          {"terminal", true}};
}

}  // namespace

CaddyRouter::CaddyRouter(const std::string& admin, std::string server)
    : admin_(absl::StripSuffix(admin, "/")), server_(std::move(server)) {
  // The admin API listens on loopback: "http://127.0.0.1:2019" or "127.0.0.1:2019".
  absl::string_view rest = absl::StripPrefix(admin_, "http://");
  rest = absl::StripPrefix(rest, "127.0.0.1:");
  rest = absl::StripPrefix(rest, "localhost:");
  if (!absl::SimpleAtoi(rest, &port_) || port_ < 1 || port_ > 65535) port_ = 0;
}

absl::StatusOr<UnixHttpResponse> CaddyRouter::Call(const std::string& method,
                                                   const std::string& target,
                                                   const std::string& body,
                                                   const std::string& what) {
  if (port_ == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "router: the Caddy admin API must be http://127.0.0.1:PORT, not \"", admin_, "\""));
  }
  UnixHttpRequest req;
  req.method = method;
  req.target = target;
  req.body = body;
  req.timeout = absl::Seconds(10);
  // Caddy's admin API only answers requests for the address it listens on.
  req.host = absl::StrCat("127.0.0.1:", port_);
  auto r = SendLoopbackHttp(port_, req);
  if (!r.ok()) {
    return absl::UnavailableError(absl::StrCat("router (Caddy admin API at ", admin_, "): ", what,
                                               ": ", r.status().message()));
  }
  return r;
}

absl::Status CaddyRouter::Refused(const std::string& what, const UnixHttpResponse& r) const {
  return absl::UnavailableError(absl::StrCat("router (Caddy admin API at ", admin_, "): ", what,
                                             ": HTTP ", r.status, " ", r.body.substr(0, 300)));
}

absl::Status CaddyRouter::Put(const Route& route) {
  const std::string body = RouteJson(route).dump();
  const std::string what = absl::StrCat("route ", route.id, " for ", route.host);
  auto r = Call("PATCH", "/id/" + route.id, body, what);
  if (!r.ok()) return r.status();
  if (r->status == 200) return absl::OkStatus();
  if (r->status != 404) return Refused(what, *r);
  r = Call("POST", absl::StrCat("/config/apps/http/servers/", server_, "/routes"), body, what);
  if (!r.ok()) return r.status();
  if (r->status != 200) return Refused(what, *r);
  return absl::OkStatus();
}

absl::Status CaddyRouter::Remove(const std::string& id) {
  auto r = Call("DELETE", "/id/" + id, "", "removing route " + id);
  if (!r.ok()) return r.status();
  if (r->status == 200 || r->status == 404) return absl::OkStatus();
  return Refused("removing route " + id, *r);
}

absl::StatusOr<std::vector<Route>> CaddyRouter::List(const std::string& prefix) {
  auto r = Call("GET", absl::StrCat("/config/apps/http/servers/", server_, "/routes"), "",
                "listing routes");
  if (!r.ok()) return r.status();
  if (r->status != 200) return Refused("listing routes", *r);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  std::vector<Route> out;
  if (j.is_null()) return out;  // no routes yet
  if (!j.is_array()) {
    return absl::UnavailableError(
        absl::StrCat("router (Caddy admin API at ", admin_, "): unreadable route list"));
  }
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("@id") || !e["@id"].is_string()) continue;
    Route route;
    route.id = e["@id"].get<std::string>();
    if (!absl::StartsWith(route.id, prefix)) continue;
    try {
      route.host = e["match"][0]["host"][0].get<std::string>();
      route.upstream = e["handle"][0]["upstreams"][0]["dial"].get<std::string>();
    } catch (const nlohmann::json::exception&) {
      // A route of ours that was edited by hand: listed, so it is replaced or removed.
    }
    out.push_back(std::move(route));
  }
  return out;
}

}  // namespace slipway::deploy
