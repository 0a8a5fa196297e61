#include "release/nodes/support.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/duration.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "expression/expression.h"
#include "pipeline/secrets.h"

namespace slipway::release {

absl::StatusOr<std::string> Resolve(const std::string& text,
                                    const std::map<std::string, std::string>& values) {
  if (text.find('$') == std::string::npos) return text;
  ASSIGN_OR_RETURN(expression::Template t, expression::Template::Parse(text));
  absl::flat_hash_map<std::string, std::string> flat(values.begin(), values.end());
  return t.Evaluate(flat);
}

std::string Truncate(std::string s, size_t max) {
  if (s.size() > max) s = s.substr(s.size() - max);
  return s;
}

bool StatusExpected(int status, const google::protobuf::RepeatedField<int32_t>& expect, int lo,
                    int hi) {
  if (expect.empty()) return status >= lo && status <= hi;
  return std::find(expect.begin(), expect.end(), status) != expect.end();
}

std::string RouteLabel(const v1::Stage& stage_spec, const std::string& pipeline,
                       const std::string& stage, const v1::Resource& spec) {
  // The service that asks for the route, or else the stage's first container service with a port.
  bool chosen = false;
  for (const auto& r : stage_spec.resources())
    chosen = chosen || (r.driver() == "container" && r.container().route());
  for (const auto& r : stage_spec.resources()) {
    if (chosen && !r.container().route()) continue;
    if (r.driver() != "container" || r.kind() == v1::RESOURCE_KIND_JOB ||
        r.container().ports_size() == 0) {
      continue;
    }
    if (r.name() != spec.name()) return "";
    break;
  }
  if (spec.driver() != "container" || spec.container().ports_size() == 0) return "";
  if (absl::StartsWith(stage, "preview:")) return stage.substr(8);
  std::string label = absl::StrCat(pipeline, "-", stage);
  if (label.size() > 63)
    label = absl::StrCat(label.substr(0, 56), "-", Sha256Hex(label).substr(0, 6));
  return label;
}

ResourceTarget ResourceTarget::Of(const NodeContext& ctx, const v1::Resource& spec) {
  return {ctx.values,
          ctx.run.pipeline(),
          ctx.run.stage(),
          ctx.run.id(),
          spec,
          RouteLabel(ctx.run.stage_spec(), ctx.run.pipeline(), ctx.run.stage(), spec)};
}

absl::StatusOr<deploy::DeployRequest> ResourceTarget::Request(const v1::Artifact& artifact) const {
  std::map<std::string, std::string> v = values;
  v["artifact.image"] = artifact.image();
  v["artifact.sha"] = artifact.sha();
  v["artifact.version"] = artifact.version();
  for (const auto& [k, val] : artifact.config()) v["artifact.config." + k] = val;
  deploy::DeployRequest req;
  req.key = absl::StrCat(pipeline, "/", stage, "/", spec.name());
  req.spec = spec;
  req.artifact = artifact;
  auto* cmd = req.spec.mutable_process()->mutable_command();
  for (auto& arg : *cmd) {
    ASSIGN_OR_RETURN(arg, Resolve(arg, v));
  }
  for (auto& [k, val] : *req.spec.mutable_process()->mutable_env()) {
    ASSIGN_OR_RETURN(val, Resolve(val, v));
  }
  for (auto& [k, val] : *req.spec.mutable_command()->mutable_env()) {
    ASSIGN_OR_RETURN(val, Resolve(val, v));
  }
  if (spec.driver() == "container") {
    v1::ContainerSettings* c = req.spec.mutable_container();
    ASSIGN_OR_RETURN(*c->mutable_image(), Resolve(c->image(), v));
    for (auto* list : {c->mutable_command(), c->mutable_entrypoint()}) {
      for (auto& arg : *list) {
        ASSIGN_OR_RETURN(arg, Resolve(arg, v));
      }
    }
    for (auto& [k, val] : *c->mutable_env()) {
      ASSIGN_OR_RETURN(val, Resolve(val, v));
    }
    // Secrets are read now, into this request only: what is recorded keeps the references.
    for (const auto& [k, ref] : c->secret_env()) {
      auto secret = pipeline::ResolveSecret(ref);
      if (!secret.ok()) {
        return absl::FailedPreconditionError(absl::StrCat("resource ", spec.name(),
                                                          ": container.secret_env.", k, ": ",
                                                          secret.status().message()));
      }
      (*c->mutable_env())[k] = *secret;
    }
    c->clear_secret_env();
    if (c->registry_auth().has_password()) {
      auto secret = pipeline::ResolveSecret(c->registry_auth().password());
      if (!secret.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat("resource ", spec.name(),
                         ": container.registry_auth.password: ", secret.status().message()));
      }
      c->mutable_registry_auth()->mutable_password()->set_value(*secret);
    }
    req.route_label = route_label;
  }
  req.env = {{"SLIPWAY_PIPELINE", pipeline},
             {"SLIPWAY_STAGE", stage},
             {"SLIPWAY_RESOURCE", spec.name()},
             {"SLIPWAY_RUN_ID", run_id},
             {"SLIPWAY_ARTIFACT_IMAGE", artifact.image()},
             {"SLIPWAY_ARTIFACT_SHA", artifact.sha()},
             {"SLIPWAY_ARTIFACT_VERSION", artifact.version()},
             {"SLIPWAY_TRIGGER_BRANCH", v["trigger.branch"]},
             {"SLIPWAY_TRIGGER_SHA", v["trigger.sha"]}};
  for (const auto& [k, val] : artifact.config()) req.env["SLIPWAY_CONFIG_" + k] = val;
  return req;
}

}  // namespace slipway::release
