#include "deploy/container_engine.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace slipway::deploy {
namespace {

constexpr char kApi[] = "/v1.41";

std::string ErrorMessage(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    return j["message"].get<std::string>();
  }
  std::string b = body.substr(0, 300);
  while (!b.empty() && (b.back() == '\n' || b.back() == '\r')) b.pop_back();
  return b;
}

Labels LabelsOf(const nlohmann::json& j) {
  Labels out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::string FilterQuery(const std::vector<std::string>& labels) {
  nlohmann::json f = {{"label", labels}};
  return QueryEscape(f.dump());
}

}  // namespace

std::string QueryEscape(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

ContainerEngine::ContainerEngine(const std::string& host, absl::Duration timeout)
    : socket_(absl::StripPrefix(host, "unix://")), timeout_(timeout) {}

absl::StatusOr<UnixHttpResponse> ContainerEngine::Call(const std::string& method,
                                                       const std::string& target,
                                                       const std::string& body,
                                                       absl::Duration timeout) {
  UnixHttpRequest req;
  req.method = method;
  req.target = absl::StrCat(kApi, target);
  req.body = body;
  req.timeout = timeout == absl::ZeroDuration() ? timeout_ : timeout;
  auto r = SendUnixHttp(socket_, req);
  if (!r.ok()) {
    return absl::Status(r.status().code(),
                        absl::StrCat("container engine at ", where(), ": ", r.status().message()));
  }
  return r;
}

absl::Status ContainerEngine::Failure(const UnixHttpResponse& r, const std::string& what) const {
  std::string msg = absl::StrCat(what, ": the container engine at ", where(), " answered ",
                                 r.status, ": ", ErrorMessage(r.body));
  if (r.status == 404) return absl::NotFoundError(msg);
  if (r.status == 409) return absl::AlreadyExistsError(msg);
  if (r.status == 400) return absl::InvalidArgumentError(msg);
  if (r.status == 401 || r.status == 403) return absl::PermissionDeniedError(msg);
  return absl::UnavailableError(msg);
}

absl::StatusOr<std::string> ContainerEngine::Version() {
  ASSIGN_OR_RETURN(UnixHttpResponse r, Call("GET", "/version", "", absl::Seconds(5)));
  if (r.status != 200) return Failure(r, "version");
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object()) return absl::UnavailableError(where() + " is not a container engine");
  return j.value("Version", std::string("unknown"));
}

absl::StatusOr<std::optional<ImageInfo>> ContainerEngine::InspectImage(const std::string& ref) {
  ASSIGN_OR_RETURN(UnixHttpResponse r, Call("GET", "/images/" + ref + "/json"));
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) return Failure(r, "image " + ref);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object()) return absl::UnavailableError("image " + ref + ": unreadable answer");
  ImageInfo info;
  info.id = j.value("Id", std::string());
  if (j.contains("RepoDigests") && j["RepoDigests"].is_array()) {
    for (const auto& d : j["RepoDigests"]) {
      if (d.is_string()) info.repo_digests.push_back(d.get<std::string>());
    }
  }
  return info;
}

absl::Status ContainerEngine::PullImage(const std::string& ref, const std::string& auth_json) {
  UnixHttpRequest req;
  req.method = "POST";
  req.target = absl::StrCat(kApi, "/images/create?fromImage=", QueryEscape(ref));
  req.timeout = absl::Minutes(10);
  if (!auth_json.empty()) {
    // base64url of the JSON, as the API expects.
    static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string enc;
    size_t i = 0;
    for (; i + 2 < auth_json.size(); i += 3) {
      uint32_t v = (uint8_t(auth_json[i]) << 16) | (uint8_t(auth_json[i + 1]) << 8) |
                   uint8_t(auth_json[i + 2]);
      for (int k = 18; k >= 0; k -= 6) enc.push_back(b64[(v >> k) & 63]);
    }
    if (i < auth_json.size()) {
      uint32_t v = uint8_t(auth_json[i]) << 16;
      if (i + 1 < auth_json.size()) v |= uint8_t(auth_json[i + 1]) << 8;
      enc.push_back(b64[(v >> 18) & 63]);
      enc.push_back(b64[(v >> 12) & 63]);
      if (i + 1 < auth_json.size()) enc.push_back(b64[(v >> 6) & 63]);
    }
    req.headers["X-Registry-Auth"] = enc;
  }
  auto r = SendUnixHttp(socket_, req);
  if (!r.ok()) {
    return absl::Status(r.status().code(), absl::StrCat("pulling image ", ref, " through ", where(),
                                                        ": ", r.status().message()));
  }
  if (r->status != 200) return Failure(*r, "pulling image " + ref);
  // The answer is a stream of JSON progress messages; a failure is one with "error".
  for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
    auto j = nlohmann::json::parse(std::string(line), nullptr, false);
    if (j.is_object() && j.contains("error")) {
      std::string e = j["error"].is_string() ? j["error"].get<std::string>() : j["error"].dump();
      return absl::NotFoundError(
          absl::StrCat("pulling image ", ref, " through ", where(), ": ", e));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<NetworkInfo>> ContainerEngine::InspectNetwork(
    const std::string& name) {
  ASSIGN_OR_RETURN(UnixHttpResponse r, Call("GET", "/networks/" + name));
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) return Failure(r, "network " + name);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  NetworkInfo n;
  n.id = j.value("Id", std::string());
  n.name = j.value("Name", name);
  if (j.contains("Labels")) n.labels = LabelsOf(j["Labels"]);
  return n;
}

absl::Status ContainerEngine::CreateNetwork(const std::string& name, const Labels& labels) {
  ASSIGN_OR_RETURN(std::optional<NetworkInfo> existing, InspectNetwork(name));
  if (existing.has_value()) return absl::OkStatus();
  nlohmann::json body = {{"Name", name}, {"Labels", labels}, {"CheckDuplicate", true}};
  ASSIGN_OR_RETURN(UnixHttpResponse r, Call("POST", "/networks/create", body.dump()));
  if (r.status == 201 || r.status == 200 || r.status == 409) return absl::OkStatus();
  // Made by a concurrent deploy in the same scope (Podman answers 500 for that).
  ASSIGN_OR_RETURN(existing, InspectNetwork(name));
  if (existing.has_value()) return absl::OkStatus();
  return Failure(r, "creating network " + name);
}

absl::Status ContainerEngine::RemoveNetwork(const std::string& name) {
  ASSIGN_OR_RETURN(UnixHttpResponse r, Call("DELETE", "/networks/" + name));
  if (r.status == 204 || r.status == 200 || r.status == 404) return absl::OkStatus();
  return Failure(r, "removing network " + name);
}

absl::StatusOr<std::vector<NetworkInfo>> ContainerEngine::ListNetworks(
    const std::string& label_filter) {
  ASSIGN_OR_RETURN(UnixHttpResponse r,
                   Call("GET", "/networks?filters=" + FilterQuery({label_filter})));
  if (r.status != 200) return Failure(r, "listing networks");
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_array()) return absl::UnavailableError("listing networks: unreadable answer");
  std::vector<NetworkInfo> out;
  for (const auto& n : j) {
    NetworkInfo info;
    info.id = n.value("Id", std::string());
    info.name = n.value("Name", std::string());
    if (n.contains("Labels")) info.labels = LabelsOf(n["Labels"]);
    out.push_back(std::move(info));
  }
  return out;
}

absl::Status ContainerEngine::CreateVolume(const std::string& name, const Labels& labels) {
  ASSIGN_OR_RETURN(UnixHttpResponse got, Call("GET", "/volumes/" + name));
  if (got.status == 200) return absl::OkStatus();
  nlohmann::json body = {{"Name", name}, {"Labels", labels}};
  ASSIGN_OR_RETURN(UnixHttpResponse r, Call("POST", "/volumes/create", body.dump()));
  if (r.status == 201 || r.status == 200 || r.status == 409) return absl::OkStatus();
  ASSIGN_OR_RETURN(got, Call("GET", "/volumes/" + name));
  if (got.status == 200) return absl::OkStatus();
  return Failure(r, "creating volume " + name);
}

absl::Status ContainerEngine::RemoveVolume(const std::string& name) {
  ASSIGN_OR_RETURN(UnixHttpResponse r, Call("DELETE", "/volumes/" + name));
  if (r.status == 204 || r.status == 200 || r.status == 404) return absl::OkStatus();
  return Failure(r, "removing volume " + name);
}

absl::StatusOr<std::vector<VolumeInfo>> ContainerEngine::ListVolumes(
    const std::string& label_filter) {
  ASSIGN_OR_RETURN(UnixHttpResponse r,
                   Call("GET", "/volumes?filters=" + FilterQuery({label_filter})));
  if (r.status != 200) return Failure(r, "listing volumes");
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("Volumes")) {
    return absl::UnavailableError("listing volumes: unreadable answer");
  }
  std::vector<VolumeInfo> out;
  if (!j["Volumes"].is_array()) return out;
  for (const auto& v : j["Volumes"]) {
    VolumeInfo info;
    info.name = v.value("Name", std::string());
    if (v.contains("Labels")) info.labels = LabelsOf(v["Labels"]);
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<std::string> ContainerEngine::CreateContainer(const std::string& name,
                                                             const nlohmann::json& config) {
  ASSIGN_OR_RETURN(UnixHttpResponse r,
                   Call("POST", "/containers/create?name=" + QueryEscape(name), config.dump()));
  if (r.status != 201 && r.status != 200) return Failure(r, "creating container " + name);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("Id")) {
    return absl::UnavailableError("creating container " + name + ": unreadable answer");
  }
  return j["Id"].get<std::string>();
}

absl::Status ContainerEngine::StartContainer(const std::string& id) {
  ASSIGN_OR_RETURN(UnixHttpResponse r, Call("POST", "/containers/" + id + "/start"));
  if (r.status == 204 || r.status == 304 || r.status == 200) return absl::OkStatus();
  return Failure(r, "starting container " + id);
}

absl::StatusOr<std::optional<ContainerInfo>> ContainerEngine::InspectContainer(
    const std::string& id) {
  ASSIGN_OR_RETURN(UnixHttpResponse r, Call("GET", "/containers/" + id + "/json"));
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) return Failure(r, "container " + id);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object()) return absl::UnavailableError("container " + id + ": unreadable answer");
  ContainerInfo c;
  c.id = j.value("Id", std::string());
  c.name = std::string(absl::StripPrefix(j.value("Name", std::string()), "/"));
  c.image_id = j.value("Image", std::string());
  if (j.contains("Config") && j["Config"].contains("Labels")) {
    c.labels = LabelsOf(j["Config"]["Labels"]);
  }
  if (j.contains("State") && j["State"].is_object()) {
    c.running = j["State"].value("Running", false);
    c.state = j["State"].value("Status", std::string());
    c.exit_code = j["State"].value("ExitCode", 0);
  }
  if (j.contains("NetworkSettings") && j["NetworkSettings"].contains("Ports") &&
      j["NetworkSettings"]["Ports"].is_object()) {
    for (auto it = j["NetworkSettings"]["Ports"].begin(); it != j["NetworkSettings"]["Ports"].end();
         ++it) {
      if (!it.value().is_array()) continue;
      for (const auto& b : it.value()) {
        int port = 0;
        if (b.contains("HostPort") && b["HostPort"].is_string() &&
            absl::SimpleAtoi(b["HostPort"].get<std::string>(), &port) && port > 0) {
          c.host_ports[it.key()] = port;
          break;
        }
      }
    }
  }
  if (j.contains("Mounts") && j["Mounts"].is_array()) {
    for (const auto& m : j["Mounts"]) {
      if (m.value("Type", std::string()) == "volume") c.volumes.push_back(m.value("Name", ""));
    }
  }
  return c;
}

absl::StatusOr<std::vector<ContainerInfo>> ContainerEngine::ListContainers(
    const std::vector<std::string>& label_filters) {
  ASSIGN_OR_RETURN(UnixHttpResponse r,
                   Call("GET", "/containers/json?all=1&filters=" + FilterQuery(label_filters)));
  if (r.status != 200) return Failure(r, "listing containers");
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_array()) return absl::UnavailableError("listing containers: unreadable answer");
  std::vector<ContainerInfo> out;
  for (const auto& e : j) {
    ContainerInfo c;
    c.id = e.value("Id", std::string());
    if (e.contains("Names") && e["Names"].is_array() && !e["Names"].empty()) {
      c.name = std::string(absl::StripPrefix(e["Names"][0].get<std::string>(), "/"));
    }
    if (e.contains("Labels")) c.labels = LabelsOf(e["Labels"]);
    c.state = e.value("State", std::string());
    c.running = c.state == "running";
    c.image_id = e.value("ImageID", std::string());
    if (e.contains("Created") && e["Created"].is_number()) c.created = e["Created"].get<int64_t>();
    if (e.contains("Ports") && e["Ports"].is_array()) {
      for (const auto& p : e["Ports"]) {
        if (p.contains("PublicPort") && p.contains("PrivatePort")) {
          c.host_ports[absl::StrCat(p["PrivatePort"].get<int>(), "/",
                                    p.value("Type", std::string("tcp")))] =
              p["PublicPort"].get<int>();
        }
      }
    }
    if (e.contains("Mounts") && e["Mounts"].is_array()) {
      for (const auto& m : e["Mounts"]) {
        if (m.value("Type", std::string()) == "volume") c.volumes.push_back(m.value("Name", ""));
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

absl::Status ContainerEngine::RemoveContainer(const std::string& id, absl::Duration grace) {
  const int64_t seconds = std::max<int64_t>(0, absl::ToInt64Seconds(grace));
  ASSIGN_OR_RETURN(UnixHttpResponse stop,
                   Call("POST", absl::StrCat("/containers/", id, "/stop?t=", seconds), "",
                        grace + absl::Seconds(30)));
  if (stop.status == 404) return absl::OkStatus();
  if (stop.status != 204 && stop.status != 304 && stop.status != 200) {
    // A container that cannot be stopped is still removed by force below.
  }
  ASSIGN_OR_RETURN(UnixHttpResponse r, Call("DELETE", "/containers/" + id + "?force=1&v=0"));
  if (r.status == 204 || r.status == 200 || r.status == 404) return absl::OkStatus();
  return Failure(r, "removing container " + id);
}

absl::StatusOr<int> ContainerEngine::WaitContainer(const std::string& id, absl::Duration timeout) {
  ASSIGN_OR_RETURN(UnixHttpResponse r, Call("POST", "/containers/" + id + "/wait", "", timeout));
  if (r.status != 200) return Failure(r, "waiting for container " + id);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("StatusCode")) {
    return absl::UnavailableError("waiting for container " + id + ": unreadable answer");
  }
  return j["StatusCode"].get<int>();
}

absl::Status ContainerEngine::Logs(const std::string& id, bool follow, int tail,
                                   const BodySink& sink) {
  UnixHttpRequest req;
  req.target =
      absl::StrCat(kApi, "/containers/", id, "/logs?stdout=1&stderr=1&follow=", follow ? 1 : 0,
                   "&tail=", tail > 0 ? absl::StrCat(tail) : "all");
  req.timeout = timeout_;
  // Frames: 1 byte stream, 3 zero bytes, 4 bytes big-endian length, then the payload.
  std::string pending;
  bool stopped = false;
  BodySink frames = [&](std::string_view piece) {
    if (piece.empty()) return sink(piece);
    pending.append(piece);
    size_t at = 0;
    while (pending.size() - at >= 8) {
      const auto* h = reinterpret_cast<const unsigned char*>(pending.data() + at);
      if (h[0] > 2 || h[1] != 0 || h[2] != 0 || h[3] != 0) {
        // Not multiplexed (a TTY container): the bytes are the output.
        if (!sink(std::string_view(pending).substr(at))) stopped = true;
        pending.clear();
        return !stopped;
      }
      const size_t size = (size_t(h[4]) << 24) | (size_t(h[5]) << 16) | (size_t(h[6]) << 8) | h[7];
      if (pending.size() - at - 8 < size) break;
      if (!sink(std::string_view(pending).substr(at + 8, size))) {
        stopped = true;
        return false;
      }
      at += 8 + size;
    }
    pending.erase(0, at);
    return true;
  };
  auto r = SendUnixHttp(socket_, req, frames);
  if (!r.ok()) {
    return absl::Status(r.status().code(), absl::StrCat("logs of container ", id, " through ",
                                                        where(), ": ", r.status().message()));
  }
  if (r->status == 404) return Failure(*r, "logs of container " + id);
  if (r->status != 200) return Failure(*r, "logs of container " + id);
  return absl::OkStatus();
}

}  // namespace slipway::deploy
