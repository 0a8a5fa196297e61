// The built-in node kinds, one per file in release/nodes/. Each function returns a static,
// stateless instance.
#ifndef SLIPWAY_RELEASE_NODES_KINDS_H_
#define SLIPWAY_RELEASE_NODES_KINDS_H_

#include "release/nodes/node_kind.h"

namespace slipway::release {

const NodeKind* SleepNodeKind();           // sleep.cc
const NodeKind* ApprovalNodeKind();        // approval.cc
const NodeKind* DeployNodeKind();          // deploy.cc: deploy and promote
const NodeKind* RunJobNodeKind();          // run_job.cc
const NodeKind* AwaitConditionNodeKind();  // await_condition.cc
const NodeKind* HttpRequestNodeKind();     // http_request.cc: http_request and message

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_NODES_KINDS_H_
