// deploy and promote: apply a resource through its driver, with the step's artifact (deploy)
// or with the artifact another stage last deployed (promote), and record the workload.
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "release/nodes/kinds.h"
#include "release/nodes/support.h"
#include "storage/run_repository.h"

namespace slipway::release {
namespace {

class DeployKind final : public NodeKind {
 public:
  bool idempotent() const override { return true; }
  NodeStart Start(const NodeContext& ctx) const override {
    const v1::Step& step = ctx.step;
    const std::string& name =
        step.has_deploy() ? step.deploy().resource() : step.promote().resource();
    const v1::Resource* spec = ctx.Resource(name);
    if (spec == nullptr) return NodeStart::Fail(absl::StrCat("unknown resource \"", name, "\""));
    deploy::Driver* driver = ctx.DriverFor(*spec);
    if (driver == nullptr) {
      return NodeStart::Fail(absl::StrCat("driver \"", spec->driver(), "\" is not available"));
    }
    v1::Artifact artifact;
    std::string from_stage, from_resource;
    if (step.has_deploy()) {
      const v1::Artifact& a =
          step.deploy().has_artifact() ? step.deploy().artifact() : spec->artifact();
      for (auto [text, out] : {std::pair{&a.image(), artifact.mutable_image()},
                               std::pair{&a.sha(), artifact.mutable_sha()},
                               std::pair{&a.version(), artifact.mutable_version()}}) {
        auto r = Resolve(*text, ctx.values);
        if (!r.ok()) return NodeStart::Fail(std::string(r.status().message()));
        *out = *r;
      }
      artifact.set_digest(a.digest());
      for (const auto& [k, val] : a.config()) {
        auto r = Resolve(val, ctx.values);
        if (!r.ok()) return NodeStart::Fail(std::string(r.status().message()));
        (*artifact.mutable_config())[k] = *r;
      }
    } else {
      from_stage = step.promote().from_stage();
      from_resource =
          step.promote().from_resource().empty() ? name : step.promote().from_resource();
    }
    storage::Database* db = ctx.db;
    const Clock* clock = ctx.clock;
    const ResourceTarget target = ResourceTarget::Of(ctx, *spec);
    return NodeStart::Work([=]() {
      NodeResult c;
      v1::Artifact art = artifact;
      if (!from_stage.empty()) {
        std::optional<v1::ResourceState> source;
        absl::Status s = db->Read([&](storage::Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(source, storage::StageResourceRepository().Get(
                                       tx, target.pipeline, from_stage, from_resource));
          return absl::OkStatus();
        });
        if (!s.ok()) {
          c.status = s;
          return c;
        }
        if (!source.has_value()) {
          c.status = absl::FailedPreconditionError(
              absl::StrCat("stage \"", from_stage, "\" has never deployed \"", from_resource,
                           "\"; nothing to promote"));
          return c;
        }
        art = source->artifact();
        c.log.push_back(absl::StrCat("promoting ", from_stage, "/", from_resource, " (version \"",
                                     art.version(), "\")"));
      }
      auto req = target.Request(art);
      if (!req.ok()) {
        c.status = req.status();
        return c;
      }
      auto result = driver->Apply(*req);
      if (!result.ok()) {
        c.status = result.status();
        return c;
      }
      if (!result->digest.empty()) art.set_digest(result->digest);
      v1::ResourceState state;
      state.set_name(target.spec.name());
      *state.mutable_spec() = target.spec;
      *state.mutable_artifact() = art;
      *state.mutable_update_time() = ProtoTime(clock->Now());
      state.set_run_id(target.run_id);
      for (const auto& [k, val] : result->status) (*state.mutable_status())[k] = val;
      c.resource = state;
      c.outputs = {{"image", art.image()},
                   {"sha", art.sha()},
                   {"version", art.version()},
                   {"resource", target.spec.name()}};
      if (result->status.contains("url")) c.outputs["url"] = result->status.at("url");
      if (!art.digest().empty()) c.outputs["digest"] = art.digest();
      c.log.push_back(absl::StrCat("deployed ", target.spec.name(), " version \"", art.version(),
                                   "\"", art.digest().empty() ? "" : " as ", art.digest()));
      return c;
    });
  }
};

}  // namespace

const NodeKind* DeployNodeKind() {
  static const DeployKind kind;
  return &kind;
}

}  // namespace slipway::release
