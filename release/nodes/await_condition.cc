// await_condition: checks a condition (an HTTP endpoint answering as expected, or a resource's
// health) at each interval until it holds or the step's timeout passes. Each check is one
// background task; the executor schedules the next.
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "release/nodes/kinds.h"
#include "release/nodes/support.h"
#include "storage/run_repository.h"

namespace slipway::release {
namespace {

class AwaitConditionKind final : public NodeKind {
 public:
  bool idempotent() const override { return true; }
  NodeStart Start(const NodeContext& ctx) const override {
    const auto& a = ctx.step.await_condition();
    const std::string pipeline = ctx.run.pipeline();
    const std::string stage = ctx.run.stage();
    if (a.has_http()) {
      auto url = Resolve(a.http().url(), ctx.values);
      if (!url.ok()) return NodeStart::Fail(std::string(url.status().message()));
      auto path_part = Resolve(a.http().path(), ctx.values);
      if (!path_part.ok()) return NodeStart::Fail(std::string(path_part.status().message()));
      const std::string resource = a.http().resource();
      const auto expect = a.http().expect_status();
      deploy::HttpClient* http = ctx.http;
      storage::Database* db = ctx.db;
      return NodeStart::Work([=, url = *url, path_part = *path_part]() {
        NodeResult c;
        std::string target = url;
        if (!resource.empty()) {
          std::optional<v1::ResourceState> state;
          absl::Status s = db->Read([&](storage::Transaction& tx) -> absl::Status {
            ASSIGN_OR_RETURN(state,
                             storage::StageResourceRepository().Get(tx, pipeline, stage, resource));
            return absl::OkStatus();
          });
          if (!s.ok()) {
            c.status = s;
            return c;
          }
          if (!state.has_value() || !state->status().contains("url")) {
            c.condition_met = false;
            c.log.push_back(absl::StrCat("resource ", resource, " has no URL yet"));
            return c;
          }
          target = state->status().at("url") + path_part;
        }
        deploy::HttpRequest req;
        req.url = target;
        req.timeout = absl::Seconds(5);
        auto resp = http->Send(req);
        if (!resp.ok()) {
          c.condition_met = false;
          c.log.push_back(absl::StrCat("GET ", target, ": ", resp.status().message()));
        } else if (!StatusExpected(resp->status, expect, 200, 399)) {
          c.condition_met = false;
          c.log.push_back(absl::StrCat("GET ", target, ": ", resp->status));
        } else {
          c.log.push_back(absl::StrCat("GET ", target, ": ", resp->status));
        }
        return c;
      });
    }
    const v1::Resource* spec = ctx.Resource(a.resource_healthy());
    if (spec == nullptr) return NodeStart::Fail("unknown resource");
    deploy::Driver* driver = ctx.DriverFor(*spec);
    if (driver == nullptr) return NodeStart::Fail("driver not available");
    const ResourceTarget target = ResourceTarget::Of(ctx, *spec);
    return NodeStart::Work([=]() {
      NodeResult c;
      auto req = target.Request(target.spec.artifact());
      if (!req.ok()) {
        c.status = req.status();
        return c;
      }
      auto healthy = driver->Healthy(*req);
      c.condition_met = healthy.ok() && *healthy;
      if (!c.condition_met)
        c.log.push_back(absl::StrCat(target.spec.name(), " is not healthy yet"));
      return c;
    });
  }
};

}  // namespace

const NodeKind* AwaitConditionNodeKind() {
  static const AwaitConditionKind kind;
  return &kind;
}

}  // namespace slipway::release
