#include "release/nodes/kinds.h"

namespace slipway::release {

NodeKinds BuiltinNodeKinds() {
  return {
      {v1::Step::kSleep, SleepNodeKind()},
      {v1::Step::kApproval, ApprovalNodeKind()},
      {v1::Step::kDeploy, DeployNodeKind()},
      {v1::Step::kPromote, DeployNodeKind()},
      {v1::Step::kRunJob, RunJobNodeKind()},
      {v1::Step::kAwaitCondition, AwaitConditionNodeKind()},
      {v1::Step::kHttpRequest, HttpRequestNodeKind()},
      {v1::Step::kMessage, HttpRequestNodeKind()},
  };
}

}  // namespace slipway::release
