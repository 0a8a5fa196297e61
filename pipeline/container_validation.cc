#include "pipeline/container_validation.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/byte_size.h"

namespace slipway::pipeline {

void CheckContainer(FieldChecks& out, const std::string& f, const v1::ContainerSettings& c,
                    v1::ResourceKind kind) {
  constexpr int kMaxArgs = 256, kMaxPorts = 32, kMaxVolumes = 32, kMaxEnv = 256;
  if (c.image().size() > 512) out.Add(f + ".image", "longer than 512 characters");
  if (c.command_size() > kMaxArgs)
    out.Add(f + ".command", absl::StrCat("at most ", kMaxArgs, " entries"));
  if (c.entrypoint_size() > kMaxArgs) {
    out.Add(f + ".entrypoint", absl::StrCat("at most ", kMaxArgs, " entries"));
  }
  if (c.env_size() + c.secret_env_size() > kMaxEnv) {
    out.Add(f + ".env", absl::StrCat("at most ", kMaxEnv, " variables"));
  }
  auto env_name = [](const std::string& k) {
    if (k.empty() || k.size() > 256 || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
    return std::all_of(k.begin(), k.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    });
  };
  for (const auto& [k, v] : c.env()) {
    if (!env_name(k)) out.Add(absl::StrCat(f, ".env.", k), "not a valid environment variable name");
    if (c.secret_env().contains(k)) out.Add(absl::StrCat(f, ".secret_env.", k), "also set in env");
  }
  for (const auto& [k, ref] : c.secret_env()) {
    if (!env_name(k)) {
      out.Add(absl::StrCat(f, ".secret_env.", k), "not a valid environment variable name");
    }
    out.Secret(absl::StrCat(f, ".secret_env.", k), ref);
  }
  if (c.ports_size() > kMaxPorts)
    out.Add(f + ".ports", absl::StrCat("at most ", kMaxPorts, " ports"));
  std::set<std::string> port_names;
  std::set<int> port_numbers, host_ports;
  for (int i = 0; i < c.ports_size(); ++i) {
    const auto& p = c.ports(i);
    const std::string pf = absl::StrCat(f, ".ports[", i, "]");
    if (!p.name().empty()) {
      out.Name(pf + ".name", p.name());
      out.Unique(port_names, pf + ".name", p.name(), "port");
    }
    if (p.container_port() < 1 || p.container_port() > 65535) {
      out.Add(pf + ".container_port", absl::StrCat(p.container_port(), " is outside 1-65535"));
    } else if (!port_numbers.insert(p.container_port()).second) {
      out.Add(pf + ".container_port",
              absl::StrCat("port ", p.container_port(), " is listed twice"));
    }
    if (p.host_port() != 0 && (p.host_port() < 1024 || p.host_port() > 65535)) {
      out.Add(pf + ".host_port", absl::StrCat(p.host_port(), " is outside 1024-65535"));
    } else if (p.host_port() != 0 && !host_ports.insert(p.host_port()).second) {
      out.Add(pf + ".host_port", absl::StrCat("host port ", p.host_port(), " is listed twice"));
    }
  }
  const auto& h = c.health();
  if (!h.http_path().empty()) {
    if (!absl::StartsWith(h.http_path(), "/"))
      out.Add(f + ".health.http_path", "must start with '/'");
    if (c.ports_size() == 0)
      out.Add(f + ".health.http_path", "needs a port to check (ports is empty)");
  }
  if (!h.port().empty()) {
    bool found = false;
    for (int i = 0; i < c.ports_size(); ++i) {
      std::string name = c.ports(i).name().empty()
                             ? (i == 0 ? "http" : absl::StrCat("port-", i + 1))
                             : c.ports(i).name();
      found = found || name == h.port();
    }
    if (!found) out.Add(f + ".health.port", absl::StrCat("no port is named \"", h.port(), "\""));
  }
  out.Duration(f + ".health.interval", h.interval(), absl::Hours(1));
  out.Duration(f + ".health.timeout", h.timeout(), absl::Hours(1));
  out.Duration(f + ".stop_timeout", c.stop_timeout(), absl::Hours(1));
  if (!c.limits().memory().empty()) {
    auto bytes = ParseByteSize(c.limits().memory());
    if (!bytes.ok()) {
      out.Add(f + ".limits.memory", std::string(bytes.status().message()));
    } else if (*bytes < (6 << 20)) {
      out.Add(f + ".limits.memory", "below the engines' minimum of 6MiB");
    }
  }
  if (!c.limits().cpus().empty()) {
    double cpus = 0;
    if (!absl::SimpleAtod(c.limits().cpus(), &cpus) || !(cpus > 0) || cpus > 1024) {
      out.Add(f + ".limits.cpus",
              absl::StrCat("\"", c.limits().cpus(),
                           "\" is not a number of CPUs above 0 and at most 1024"));
    }
  }
  if (c.volumes_size() > kMaxVolumes) {
    out.Add(f + ".volumes", absl::StrCat("at most ", kMaxVolumes, " volumes"));
  }
  std::set<std::string> volume_names, paths;
  for (int i = 0; i < c.volumes_size(); ++i) {
    const auto& v = c.volumes(i);
    const std::string vf = absl::StrCat(f, ".volumes[", i, "]");
    out.Name(vf + ".name", v.name());
    out.Unique(volume_names, vf + ".name", v.name(), "volume");
    if (!absl::StartsWith(v.path(), "/") || absl::StrContains(v.path(), ":") ||
        v.path().size() > 1024) {
      out.Add(vf + ".path", "must be an absolute path inside the container, without ':'");
    } else if (!paths.insert(v.path()).second) {
      out.Add(vf + ".path", absl::StrCat("\"", v.path(), "\" is mounted twice"));
    }
  }
  if (kind == v1::RESOURCE_KIND_JOB && c.restart() != v1::RESTART_POLICY_UNSPECIFIED &&
      c.restart() != v1::RESTART_POLICY_NO) {
    out.Add(f + ".restart", "a job runs once; only \"no\" applies");
  }
  if (!c.registry_auth().username().empty() || c.registry_auth().has_password()) {
    if (c.registry_auth().username().empty()) out.Add(f + ".registry_auth.username", "required");
    if (!c.registry_auth().has_password()) {
      out.Add(f + ".registry_auth.password", "required");
    } else {
      out.Secret(f + ".registry_auth.password", c.registry_auth().password());
    }
  }
}

}  // namespace slipway::pipeline
