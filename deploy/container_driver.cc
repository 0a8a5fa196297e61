#include "deploy/container_driver.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/byte_size.h"
#include "common/proto_time.h"
#include "common/random.h"
#include "common/status_macros.h"

namespace slipway::deploy {
namespace {

constexpr char kRoleService[] = "service";
constexpr char kRoleJob[] = "job";
constexpr size_t kMaxJobOutput = 64 << 10;

struct KeyParts {
  std::string pipeline, stage, resource;
  std::string scope() const { return pipeline + "/" + stage; }
  // The preview's name for "preview:<name>" stages.
  std::string preview() const {
    return absl::StartsWith(stage, "preview:") ? stage.substr(8) : std::string();
  }
};

KeyParts Split(const std::string& key) {
  std::vector<std::string> parts = absl::StrSplit(key, absl::MaxSplits('/', 2));
  parts.resize(3);
  return {parts[0], parts[1], parts[2]};
}

// Engine names allow [a-zA-Z0-9_.-]; stage names never hold '_' or '.', so ':' -> '_' and
// '/' -> '.' keep distinct keys distinct.
std::string Slug(const std::string& text) {
  std::string out;
  for (char c : text) out.push_back(c == ':' ? '_' : c == '/' ? '.' : c);
  return out;
}

std::string PortKey(int port) { return absl::StrCat(port, "/tcp"); }

std::string PortName(const v1::ContainerSettings& s, int i) {
  if (!s.ports(i).name().empty()) return s.ports(i).name();
  return i == 0 ? "http" : absl::StrCat("port-", i + 1);
}

// The repository part of an image reference: without its tag or digest.
std::string Repository(const std::string& ref) {
  std::string r = ref.substr(0, ref.find('@'));
  size_t slash = r.rfind('/');
  size_t colon = r.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    r = r.substr(0, colon);
  }
  return r;
}

std::string RestartName(v1::RestartPolicy p) {
  switch (p) {
    case v1::RESTART_POLICY_ALWAYS:
      return "always";
    case v1::RESTART_POLICY_ON_FAILURE:
      return "on-failure";
    case v1::RESTART_POLICY_NO:
      return "no";
    default:
      return "unless-stopped";
  }
}

}  // namespace

struct ContainerDriver::Resolved {
  KeyParts key;
  std::string digest;  // what the release records
  std::string image_id;
  nlohmann::json config;
  std::string spec_hash;
  Labels labels;
  std::string network;
  absl::Duration grace = absl::Seconds(10);
  bool fixed_port = false;
};

absl::StatusOr<std::string> LoadControllerId(const std::string& dir) {
  const std::string path = dir + "/controller-id";
  {
    std::ifstream in(path);
    std::string id;
    if (in && std::getline(in, id) && !id.empty()) return id;
  }
  SecureIdGenerator ids;
  const std::string id = ids.RandomHex(6);
  std::ofstream out(path, std::ios::trunc);
  out << id << "\n";
  out.close();
  if (!out) return absl::InternalError("cannot write " + path);
  return id;
}

ContainerDriver::ContainerDriver(ContainerDriverOptions options, HttpClient* http)
    : options_(std::move(options)), http_(http), engine_(options_.host) {}

std::string ContainerDriver::NetworkName(const std::string& scope) const {
  return absl::StrCat("slipway-", options_.controller_id, "-", Slug(scope));
}

std::string ContainerDriver::VolumeName(const std::string& scope, const std::string& volume) const {
  return absl::StrCat("slipway-", options_.controller_id, "-", Slug(scope), ".", volume);
}

std::string ContainerDriver::RouteId(const std::string& key) const {
  return absl::StrCat("slipway.", options_.controller_id, ".", Slug(key));
}

absl::StatusOr<ContainerDriver::Resolved> ContainerDriver::Prepare(const DeployRequest& request,
                                                                   bool job) {
  const v1::ContainerSettings& s = request.spec.container();
  Resolved r;
  r.key = Split(request.key);
  const std::string what = absl::StrCat("resource ", r.key.resource);
  // The recorded digest wins: a rollback or a promote runs exactly what ran before.
  std::string ref = request.artifact.digest();
  if (ref.empty()) ref = s.image().empty() ? request.artifact.image() : s.image();
  if (ref.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": no image (set container.image or the artifact's image)"));
  }
  // The image, pulled as the policy says.
  std::string auth;
  if (!s.registry_auth().username().empty()) {
    nlohmann::json a = {{"username", s.registry_auth().username()},
                        {"password", s.registry_auth().password().value()}};
    if (!s.registry_auth().server().empty()) a["serveraddress"] = s.registry_auth().server();
    auth = a.dump();
  }
  std::optional<ImageInfo> image;
  if (s.pull() == v1::PULL_POLICY_ALWAYS) {
    RETURN_IF_ERROR(engine_.PullImage(ref, auth));
  }
  ASSIGN_OR_RETURN(image, engine_.InspectImage(ref));
  if (!image.has_value()) {
    if (s.pull() == v1::PULL_POLICY_NEVER) {
      return absl::NotFoundError(absl::StrCat(what, ": image ", ref, " is not present at ",
                                              engine_.where(), " (pull policy never)"));
    }
    absl::Status pulled = engine_.PullImage(ref, auth);
    if (!pulled.ok()) {
      return absl::Status(pulled.code(), absl::StrCat(what, ": ", pulled.message()));
    }
    ASSIGN_OR_RETURN(image, engine_.InspectImage(ref));
    if (!image.has_value()) {
      return absl::NotFoundError(
          absl::StrCat(what, ": image ", ref, " is not present at ", engine_.where()));
    }
  }
  r.image_id = image->id;
  if (absl::StrContains(ref, "@sha256:")) {
    r.digest = ref;
  } else {
    r.digest = image->id;
    const std::string repo = Repository(ref);
    for (const auto& d : image->repo_digests) {
      if (Repository(d) == repo) r.digest = d;
    }
  }
  if (s.has_stop_timeout()) {
    r.grace = DurationFromProto(s.stop_timeout());
  }

  r.labels = {{kLabelController, options_.controller_id},
              {kLabelKey, request.key},
              {kLabelScope, r.key.scope()},
              {kLabelPipeline, r.key.pipeline},
              {kLabelStage, r.key.stage},
              {kLabelResource, r.key.resource},
              {kLabelRole, job ? kRoleJob : kRoleService}};
  if (!r.key.preview().empty()) r.labels[kLabelPreview] = r.key.preview();
  Labels scope_labels = {{kLabelController, options_.controller_id},
                         {kLabelScope, r.key.scope()},
                         {kLabelPipeline, r.key.pipeline},
                         {kLabelStage, r.key.stage}};
  if (!r.key.preview().empty()) scope_labels[kLabelPreview] = r.key.preview();
  r.network = NetworkName(r.key.scope());
  RETURN_IF_ERROR(engine_.CreateNetwork(r.network, scope_labels));

  // The container's configuration; its hash tells whether a running container already is it.
  nlohmann::json env = nlohmann::json::array();
  std::map<std::string, std::string> vars = request.env;
  for (const auto& [k, v] : s.env()) vars[k] = v;
  for (const auto& [k, v] : vars) env.push_back(absl::StrCat(k, "=", v));
  nlohmann::json host = {{"NetworkMode", r.network}};
  nlohmann::json exposed = nlohmann::json::object();
  nlohmann::json bindings = nlohmann::json::object();
  for (int i = 0; i < s.ports_size(); ++i) {
    const auto& p = s.ports(i);
    exposed[PortKey(p.container_port())] = nlohmann::json::object();
    if (job) continue;
    r.fixed_port = r.fixed_port || p.host_port() > 0;
    bindings[PortKey(p.container_port())] = {
        {{"HostIp", "127.0.0.1"},
         {"HostPort", p.host_port() > 0 ? absl::StrCat(p.host_port()) : "0"}}};
  }
  if (!bindings.empty()) host["PortBindings"] = bindings;
  if (!s.limits().memory().empty()) {
    ASSIGN_OR_RETURN(int64_t bytes, ParseByteSize(s.limits().memory()));
    host["Memory"] = bytes;
  }
  if (!s.limits().cpus().empty()) {
    double cpus = 0;
    if (!absl::SimpleAtod(s.limits().cpus(), &cpus) || cpus <= 0) {
      return absl::InvalidArgumentError(what + ": container.limits.cpus is not a number");
    }
    host["NanoCpus"] = static_cast<int64_t>(cpus * 1e9);
  }
  nlohmann::json binds = nlohmann::json::array();
  for (const auto& v : s.volumes()) {
    const std::string name = VolumeName(r.key.scope(), v.name());
    Labels vl = scope_labels;
    vl["io.slipway.volume"] = v.name();
    RETURN_IF_ERROR(engine_.CreateVolume(name, vl));
    binds.push_back(name + ":" + v.path());
  }
  if (!binds.empty()) host["Binds"] = binds;
  if (!job) host["RestartPolicy"] = {{"Name", RestartName(s.restart())}};
  r.config = {
      {"Image", r.image_id},
      {"Env", env},
      {"ExposedPorts", exposed},
      {"HostConfig", host},
      {"StopTimeout", absl::ToInt64Seconds(r.grace)},
      {"NetworkingConfig", {{"EndpointsConfig", {{r.network, {{"Aliases", {r.key.resource}}}}}}}}};
  if (s.command_size() > 0)
    r.config["Cmd"] = std::vector<std::string>(s.command().begin(), s.command().end());
  if (s.entrypoint_size() > 0) {
    r.config["Entrypoint"] = std::vector<std::string>(s.entrypoint().begin(), s.entrypoint().end());
  }
  if (!s.working_dir().empty()) r.config["WorkingDir"] = s.working_dir();
  r.spec_hash = Sha256Hex(r.config.dump()).substr(0, 16);
  r.labels[kLabelSpec] = r.spec_hash;
  // What Sweep needs to put the route back after the router lost it.
  if (options_.router != nullptr && !request.route_label.empty() && s.ports_size() > 0 && !job) {
    r.labels[kLabelRoute] = absl::StrCat(request.route_label, ".", options_.domain);
    r.labels[kLabelRoutePort] = PortKey(s.ports(0).container_port());
  }
  r.config["Labels"] = r.labels;
  return r;
}

absl::StatusOr<std::vector<ContainerInfo>> ContainerDriver::ContainersOf(const std::string& key,
                                                                         const std::string& role) {
  std::vector<std::string> filters = {absl::StrCat(kLabelController, "=", options_.controller_id),
                                      absl::StrCat(kLabelKey, "=", key)};
  if (!role.empty()) filters.push_back(absl::StrCat(kLabelRole, "=", role));
  ASSIGN_OR_RETURN(std::vector<ContainerInfo> all, engine_.ListContainers(filters));
  // The engine filtered; checked again so a filter the engine ignored can never widen a delete.
  std::vector<ContainerInfo> out;
  for (auto& c : all) {
    if (c.labels[kLabelController] != options_.controller_id || c.labels[kLabelKey] != key) {
      continue;
    }
    if (!role.empty() && c.labels[kLabelRole] != role) continue;
    out.push_back(std::move(c));
  }
  return out;
}

std::optional<std::string> ContainerDriver::RoutedUpstream(const DeployRequest& request,
                                                           const ContainerInfo& c) const {
  const v1::ContainerSettings& s = request.spec.container();
  if (s.ports_size() == 0) return std::nullopt;
  auto it = c.host_ports.find(PortKey(s.ports(0).container_port()));
  if (it == c.host_ports.end()) return std::nullopt;
  return absl::StrCat("127.0.0.1:", it->second);
}

absl::StatusOr<bool> ContainerDriver::CheckHealth(const DeployRequest& request,
                                                  const ContainerInfo& c) {
  if (!c.running) return false;
  const v1::ContainerSettings& s = request.spec.container();
  if (s.health().http_path().empty()) return true;
  int port = 0;
  for (int i = 0; i < s.ports_size(); ++i) {
    if (s.health().port().empty() ? i == 0 : PortName(s, i) == s.health().port()) {
      auto it = c.host_ports.find(PortKey(s.ports(i).container_port()));
      if (it != c.host_ports.end()) port = it->second;
    }
  }
  if (port == 0 || http_ == nullptr) return false;
  HttpRequest probe;
  probe.url = absl::StrCat("http://127.0.0.1:", port, s.health().http_path());
  probe.timeout = absl::Seconds(1);
  if (s.health().has_timeout()) {
    probe.timeout = DurationFromProto(s.health().timeout());
  }
  auto r = http_->Send(probe);
  return r.ok() && r->status >= 200 && r->status < 400;
}

std::map<std::string, std::string> ContainerDriver::StatusOf(const DeployRequest& request,
                                                             const ContainerInfo& c,
                                                             const std::string& digest) const {
  const v1::ContainerSettings& s = request.spec.container();
  std::map<std::string, std::string> out = {{"container", c.name},
                                            {"container_id", c.id.substr(0, 12)},
                                            {"network", NetworkName(Split(request.key).scope())}};
  if (!digest.empty()) out["image"] = digest;
  for (int i = 0; i < s.ports_size(); ++i) {
    auto it = c.host_ports.find(PortKey(s.ports(i).container_port()));
    if (it == c.host_ports.end()) continue;
    out["port." + PortName(s, i)] = absl::StrCat(it->second);
    if (i == 0) {
      out["port"] = absl::StrCat(it->second);
      out["url"] = absl::StrCat("http://127.0.0.1:", it->second);
    }
  }
  if (options_.router != nullptr && !request.route_label.empty() && s.ports_size() > 0) {
    out["host"] = absl::StrCat(request.route_label, ".", options_.domain);
    out["url"] = absl::StrCat("http://", out["host"], "/");
  }
  return out;
}

absl::Status ContainerDriver::RouteTo(const DeployRequest& request, const ContainerInfo& c) {
  if (options_.router == nullptr || request.route_label.empty()) return absl::OkStatus();
  std::optional<std::string> upstream = RoutedUpstream(request, c);
  if (!upstream.has_value()) return absl::OkStatus();
  return options_.router->Put(
      {RouteId(request.key), absl::StrCat(request.route_label, ".", options_.domain), *upstream});
}

std::string ContainerDriver::LogTail(const std::string& id, int lines) {
  std::string out;
  engine_
      .Logs(id, false, lines,
            [&](std::string_view piece) {
              if (out.size() < kMaxJobOutput) out.append(piece);
              return true;
            })
      .IgnoreError();
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

absl::StatusOr<DeployResult> ContainerDriver::Apply(const DeployRequest& request) {
  ASSIGN_OR_RETURN(Resolved r, Prepare(request, false));
  ASSIGN_OR_RETURN(std::vector<ContainerInfo> existing, ContainersOf(request.key, kRoleService));
  // Already running exactly this: keep it, remove any other (left by an interrupted deploy).
  const ContainerInfo* keep = nullptr;
  for (const auto& c : existing) {
    auto spec = c.labels.find(kLabelSpec);
    if (c.running && spec != c.labels.end() && spec->second == r.spec_hash &&
        (keep == nullptr || c.created > keep->created)) {
      keep = &c;
    }
  }
  if (keep != nullptr) {
    ASSIGN_OR_RETURN(std::optional<ContainerInfo> live, engine_.InspectContainer(keep->id));
    if (live.has_value() && live->running) {
      RETURN_IF_ERROR(RouteTo(request, *live));
      for (const auto& c : existing) {
        if (c.id != keep->id) RETURN_IF_ERROR(engine_.RemoveContainer(c.id, r.grace));
      }
      return DeployResult{StatusOf(request, *live, r.digest), r.digest};
    }
  }
  if (r.fixed_port) {
    for (const auto& c : existing) RETURN_IF_ERROR(engine_.RemoveContainer(c.id, r.grace));
  }
  SecureIdGenerator ids;
  const std::string name = absl::StrCat("slipway-", options_.controller_id, "-", Slug(request.key),
                                        "-", ids.RandomHex(3));
  ASSIGN_OR_RETURN(std::string id, engine_.CreateContainer(name, r.config));
  auto fail = [&](absl::Status s) {
    engine_.RemoveContainer(id, absl::ZeroDuration()).IgnoreError();
    return s;
  };
  absl::Status started = engine_.StartContainer(id);
  if (!started.ok()) return fail(started);
  // Healthy before anything switches to it.
  static const RealClock kSystemClock;
  const Clock& clock = options_.clock != nullptr ? *options_.clock : kSystemClock;
  const absl::Time deadline = clock.Now() + options_.health_wait;
  std::optional<ContainerInfo> live;
  while (true) {
    auto got = engine_.InspectContainer(id);
    if (!got.ok()) return fail(got.status());
    live = *got;
    if (!live.has_value()) {
      return fail(absl::UnavailableError(absl::StrCat("container ", name, " disappeared")));
    }
    if (!live->running && live->state != "created" && live->state != "configured") {
      std::string tail = LogTail(id, 20);
      return fail(absl::FailedPreconditionError(
          absl::StrCat("resource ", r.key.resource, ": container ", name, " (image ", r.digest,
                       ") exited with status ", live->exit_code, tail.empty() ? "" : ": ", tail)));
    }
    auto healthy = CheckHealth(request, *live);
    if (healthy.ok() && *healthy) break;
    if (clock.Now() >= deadline) {
      std::string tail = LogTail(id, 20);
      return fail(absl::DeadlineExceededError(absl::StrCat(
          "resource ", r.key.resource, ": container ", name, " (image ", r.digest,
          ") did not pass its health check ", request.spec.container().health().http_path(), " in ",
          absl::FormatDuration(options_.health_wait), tail.empty() ? "" : ": ", tail)));
    }
    clock.Sleep(options_.startup_poll);
  }
  absl::Status routed = RouteTo(request, *live);
  if (!routed.ok()) return fail(routed);
  for (const auto& c : existing) {
    if (!r.fixed_port) RETURN_IF_ERROR(engine_.RemoveContainer(c.id, r.grace));
  }
  return DeployResult{StatusOf(request, *live, r.digest), r.digest};
}

absl::StatusOr<bool> ContainerDriver::Healthy(const DeployRequest& request) {
  ASSIGN_OR_RETURN(std::vector<ContainerInfo> existing, ContainersOf(request.key, kRoleService));
  const ContainerInfo* newest = nullptr;
  for (const auto& c : existing) {
    if (c.running && (newest == nullptr || c.created > newest->created)) newest = &c;
  }
  if (newest == nullptr) return false;
  ASSIGN_OR_RETURN(std::optional<ContainerInfo> live, engine_.InspectContainer(newest->id));
  if (!live.has_value()) return false;
  return CheckHealth(request, *live);
}

absl::StatusOr<JobResult> ContainerDriver::RunJob(const DeployRequest& request,
                                                  const std::vector<std::string>& extra_args,
                                                  absl::Duration timeout) {
  ASSIGN_OR_RETURN(Resolved r, Prepare(request, true));
  // A job container left by an interrupted run is removed, not resumed.
  ASSIGN_OR_RETURN(std::vector<ContainerInfo> stale, ContainersOf(request.key, kRoleJob));
  for (const auto& c : stale) RETURN_IF_ERROR(engine_.RemoveContainer(c.id, absl::ZeroDuration()));
  if (!extra_args.empty()) {
    std::vector<std::string> cmd;
    if (r.config.contains("Cmd")) cmd = r.config["Cmd"].get<std::vector<std::string>>();
    cmd.insert(cmd.end(), extra_args.begin(), extra_args.end());
    r.config["Cmd"] = cmd;
  }
  SecureIdGenerator ids;
  const std::string name = absl::StrCat("slipway-", options_.controller_id, "-", Slug(request.key),
                                        "-job-", ids.RandomHex(3));
  ASSIGN_OR_RETURN(std::string id, engine_.CreateContainer(name, r.config));
  absl::Status started = engine_.StartContainer(id);
  if (!started.ok()) {
    engine_.RemoveContainer(id, absl::ZeroDuration()).IgnoreError();
    return started;
  }
  auto code = engine_.WaitContainer(id, timeout > absl::ZeroDuration() ? timeout : absl::Hours(24));
  JobResult result;
  result.output = LogTail(id, 0);
  if (result.output.size() > kMaxJobOutput) {
    result.output = result.output.substr(result.output.size() - kMaxJobOutput);
  }
  engine_.RemoveContainer(id, absl::ZeroDuration()).IgnoreError();
  if (!code.ok()) {
    if (absl::IsDeadlineExceeded(code.status())) {
      return absl::DeadlineExceededError(absl::StrCat("job container ", name, " did not finish in ",
                                                      absl::FormatDuration(timeout)));
    }
    return code.status();
  }
  result.exit_code = *code;
  return result;
}

absl::Status ContainerDriver::Teardown(const DeployRequest& request) {
  const KeyParts key = Split(request.key);
  ASSIGN_OR_RETURN(std::vector<ContainerInfo> mine, ContainersOf(request.key, ""));
  absl::Duration grace = absl::Seconds(10);
  if (request.spec.container().has_stop_timeout()) {
    grace = DurationFromProto(request.spec.container().stop_timeout());
  }
  for (const auto& c : mine) RETURN_IF_ERROR(engine_.RemoveContainer(c.id, grace));
  if (options_.router != nullptr) RETURN_IF_ERROR(options_.router->Remove(RouteId(request.key)));
  // The volumes it declared and the scope's network go when nothing left in the scope uses them.
  ASSIGN_OR_RETURN(
      std::vector<ContainerInfo> scope,
      engine_.ListContainers({absl::StrCat(kLabelController, "=", options_.controller_id),
                              absl::StrCat(kLabelScope, "=", key.scope())}));
  std::set<std::string> in_use;
  for (const auto& c : scope) {
    ASSIGN_OR_RETURN(std::optional<ContainerInfo> live, engine_.InspectContainer(c.id));
    if (live.has_value()) in_use.insert(live->volumes.begin(), live->volumes.end());
  }
  for (const auto& v : request.spec.container().volumes()) {
    const std::string name = VolumeName(key.scope(), v.name());
    if (!in_use.contains(name)) RETURN_IF_ERROR(engine_.RemoveVolume(name));
  }
  if (scope.empty()) RETURN_IF_ERROR(engine_.RemoveNetwork(NetworkName(key.scope())));
  return absl::OkStatus();
}

absl::Status ContainerDriver::Logs(const DeployRequest& request, bool follow, int tail,
                                   const std::function<bool(std::string_view)>& sink) {
  ASSIGN_OR_RETURN(std::vector<ContainerInfo> existing, ContainersOf(request.key, kRoleService));
  const ContainerInfo* newest = nullptr;
  for (const auto& c : existing) {
    if (newest == nullptr || (c.running && !newest->running) ||
        (c.running == newest->running && c.created > newest->created)) {
      newest = &c;
    }
  }
  if (newest == nullptr) {
    return absl::NotFoundError(absl::StrCat("no container runs for ", request.key));
  }
  return engine_.Logs(newest->id, follow, tail, sink);
}

SweepReport ContainerDriver::Sweep(const std::function<absl::StatusOr<Ownership>()>& ownership) {
  SweepReport report;
  const std::string mine = absl::StrCat(kLabelController, "=", options_.controller_id);
  auto containers = engine_.ListContainers({mine});
  auto networks = engine_.ListNetworks(mine);
  auto volumes = engine_.ListVolumes(mine);
  absl::StatusOr<std::vector<Route>> routes = std::vector<Route>();
  if (options_.router != nullptr) {
    routes = options_.router->List(absl::StrCat("slipway.", options_.controller_id, "."));
  }
  for (const absl::Status& s :
       {containers.status(), networks.status(), volumes.status(), routes.status()}) {
    if (!s.ok()) {
      report.refused = absl::StrCat("not sweeping: ", s.message());
      return report;
    }
  }
  absl::StatusOr<Ownership> owned = ownership();
  if (!owned.ok()) {
    report.refused = absl::StrCat("not sweeping: ", owned.status().message());
    return report;
  }
  const std::set<std::string>& owned_keys = owned->keys;
  std::set<std::string> owned_scopes = owned->scopes;
  owned_scopes.insert(owned->busy_scopes.begin(), owned->busy_scopes.end());
  // Containers to remove: unowned keys, and for an owned key every container but the newest
  // running service (duplicates an interrupted replace left behind). Busy keys are left to the
  // work in progress.
  std::map<std::string, std::vector<const ContainerInfo*>> by_key;
  for (const auto& c : *containers) {
    if (c.labels.count(kLabelController) == 0 ||
        c.labels.at(kLabelController) != options_.controller_id) {
      continue;
    }
    ++report.containers;
    by_key[c.labels.count(kLabelKey) ? c.labels.at(kLabelKey) : ""].push_back(&c);
  }
  std::vector<const ContainerInfo*> doomed;
  std::vector<const ContainerInfo*> kept;
  for (auto& [key, list] : by_key) {
    const std::string scope = key.substr(0, key.rfind('/'));
    if (owned->busy_scopes.contains(scope)) continue;
    if (!owned_keys.contains(key)) {
      doomed.insert(doomed.end(), list.begin(), list.end());
      continue;
    }
    const ContainerInfo* keep = nullptr;
    for (const ContainerInfo* c : list) {
      if (c->labels.count(kLabelRole) && c->labels.at(kLabelRole) == kRoleJob) continue;
      if (c->running && (keep == nullptr || c->created > keep->created)) keep = c;
    }
    for (const ContainerInfo* c : list) {
      if (c != keep && (c->running || keep != nullptr)) doomed.push_back(c);
    }
    if (keep != nullptr) kept.push_back(keep);
  }
  const int allowed = std::max(1, static_cast<int>(options_.sweep_max_share * report.containers));
  if (static_cast<int>(doomed.size()) > allowed) {
    report.refused = absl::StrCat("not sweeping: ", doomed.size(), " of ", report.containers,
                                  " labelled containers have no owner, more than the ", allowed,
                                  " allowed at once");
    return report;
  }
  for (const ContainerInfo* c : doomed) {
    if (engine_.RemoveContainer(c->id, absl::Seconds(5)).ok()) ++report.removed_containers;
  }
  // Networks and volumes of scopes nobody owns, once no container of theirs is left.
  std::set<std::string> scopes_in_use;
  auto left = engine_.ListContainers({mine});
  if (!left.ok()) return report;
  for (const auto& c : *left) {
    if (c.labels.count(kLabelScope)) scopes_in_use.insert(c.labels.at(kLabelScope));
  }
  for (const auto& n : *networks) {
    auto it = n.labels.find(kLabelScope);
    if (n.labels.count(kLabelController) == 0 ||
        n.labels.at(kLabelController) != options_.controller_id || it == n.labels.end()) {
      continue;
    }
    if (owned_scopes.contains(it->second) || scopes_in_use.contains(it->second)) continue;
    if (engine_.RemoveNetwork(n.name).ok()) ++report.removed_networks;
  }
  for (const auto& v : *volumes) {
    auto it = v.labels.find(kLabelScope);
    if (v.labels.count(kLabelController) == 0 ||
        v.labels.at(kLabelController) != options_.controller_id || it == v.labels.end()) {
      continue;
    }
    if (owned_scopes.contains(it->second) || scopes_in_use.contains(it->second)) continue;
    if (engine_.RemoveVolume(v.name).ok()) ++report.removed_volumes;
  }
  // Routes: none for what is not owned.
  if (options_.router != nullptr) {
    std::set<std::string> wanted;
    for (const auto& key : owned_keys) wanted.insert(RouteId(key));
    for (const auto& [key, list] : by_key) {
      if (owned->busy_scopes.contains(key.substr(0, key.rfind('/')))) wanted.insert(RouteId(key));
    }
    std::map<std::string, Route> present;
    for (const auto& route : *routes) {
      if (!wanted.contains(route.id)) {
        if (options_.router->Remove(route.id).ok()) ++report.routes_removed;
      } else {
        present[route.id] = route;
      }
    }
    for (const ContainerInfo* c : kept) {
      auto host = c->labels.find(kLabelRoute);
      auto port = c->labels.find(kLabelRoutePort);
      auto key = c->labels.find(kLabelKey);
      if (host == c->labels.end() || port == c->labels.end() || key == c->labels.end()) continue;
      auto hp = c->host_ports.find(port->second);
      if (hp == c->host_ports.end()) continue;
      Route want{RouteId(key->second), host->second, absl::StrCat("127.0.0.1:", hp->second)};
      auto it = present.find(want.id);
      if (it != present.end() && it->second.host == want.host &&
          it->second.upstream == want.upstream) {
        continue;
      }
      if (options_.router->Put(want).ok()) ++report.routes_added;
    }
  }
  return report;
}

}  // namespace slipway::deploy
