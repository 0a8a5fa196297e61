// run_job: runs a job resource once, with the step's arguments and environment; its exit
// status decides the attempt.
#include "absl/strings/str_cat.h"
#include "release/nodes/kinds.h"
#include "release/nodes/support.h"

namespace slipway::release {
namespace {

class RunJobKind final : public NodeKind {
 public:
  bool idempotent() const override { return false; }
  NodeStart Start(const NodeContext& ctx) const override {
    const auto& job = ctx.step.run_job();
    const v1::Resource* spec = ctx.Resource(job.resource());
    if (spec == nullptr) return NodeStart::Fail("unknown resource");
    deploy::Driver* driver = ctx.DriverFor(*spec);
    if (driver == nullptr) {
      return NodeStart::Fail(absl::StrCat("driver \"", spec->driver(), "\" is not available"));
    }
    std::vector<std::string> args;
    for (const auto& a : job.args()) {
      auto r = Resolve(a, ctx.values);
      if (!r.ok()) return NodeStart::Fail(std::string(r.status().message()));
      args.push_back(*r);
    }
    std::map<std::string, std::string> env;
    for (const auto& [k, val] : job.env()) {
      auto r = Resolve(val, ctx.values);
      if (!r.ok()) return NodeStart::Fail(std::string(r.status().message()));
      env[k] = *r;
    }
    const absl::Duration timeout = ctx.timeout;
    const ResourceTarget target = ResourceTarget::Of(ctx, *spec);
    return NodeStart::Work([=]() {
      NodeResult c;
      auto req = target.Request(target.spec.artifact());
      if (!req.ok()) {
        c.status = req.status();
        return c;
      }
      for (const auto& [k, val] : env) req->env[k] = val;
      auto result = driver->RunJob(*req, args, timeout);
      if (!result.ok()) {
        c.status = result.status();
        return c;
      }
      c.outputs = {{"exit_code", absl::StrCat(result->exit_code)},
                   {"output", Truncate(result->output, kMaxOutputBytes)}};
      if (result->exit_code != 0) {
        c.status = absl::InternalError(absl::StrCat("job exited with status ", result->exit_code));
      }
      return c;
    });
  }
};

}  // namespace

const NodeKind* RunJobNodeKind() {
  static const RunJobKind kind;
  return &kind;
}

}  // namespace slipway::release
