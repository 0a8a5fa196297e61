#include "release/nodes/node_kind.h"

namespace slipway::release {

const v1::Resource* NodeContext::Resource(const std::string& name) const {
  for (const auto& r : run.stage_spec().resources()) {
    if (r.name() == name) return &r;
  }
  return nullptr;
}

deploy::Driver* NodeContext::DriverFor(const v1::Resource& spec) const {
  auto it = drivers.find(spec.driver());
  return it == drivers.end() ? nullptr : it->second;
}

NodeStart NodeStart::Fail(std::string error) {
  NodeStart s;
  s.kind = Kind::kFail;
  s.error = std::move(error);
  return s;
}

NodeStart NodeStart::Wait(absl::Time wake, std::string log) {
  NodeStart s;
  s.kind = Kind::kWait;
  s.wake = wake;
  s.log = std::move(log);
  return s;
}

NodeStart NodeStart::AwaitApproval(std::string log) {
  NodeStart s;
  s.kind = Kind::kAwaitApproval;
  s.log = std::move(log);
  return s;
}

NodeStart NodeStart::Work(std::function<NodeResult()> work) {
  NodeStart s;
  s.kind = Kind::kWork;
  s.work = std::move(work);
  return s;
}

}  // namespace slipway::release
