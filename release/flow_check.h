// The dry run a flow passes before its first node runs: every expression in every node parses,
// calls known functions with the right types, and reads only what will exist when the node
// runs — run arguments that were given, trigger values, and outputs of nodes that will have
// finished before it (an earlier step of a sequential list, never a later node or a parallel
// sibling). Errors name the node's field path and the position in the expression.
#ifndef SLIPWAY_RELEASE_FLOW_CHECK_H_
#define SLIPWAY_RELEASE_FLOW_CHECK_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::release {

// The values every run offers under `trigger.`.
const std::set<std::string>& TriggerFields();

// The outputs a node of this kind offers as `${refs.<ref>.<field>}`.
const std::set<std::string>& OutputFields(v1::Step::KindCase kind);

struct FlowCheckInput {
  const v1::Flow* flow = nullptr;
  // Resources the flow may name (the stage's or the blueprint's).
  const google::protobuf::RepeatedPtrField<v1::Resource>* resources = nullptr;
  // Field path of the flow, for messages: "stages[2].flow".
  std::string field;
  // The run's arguments.
  std::map<std::string, std::string> args;
  // True for preview blueprint flows, where `preview.*` may be read.
  bool preview = false;
};

// Returns every problem, each as "field.path: what is wrong"; empty if the flow may run.
std::vector<std::string> CheckFlow(const FlowCheckInput& input);

// The first problem as INVALID_ARGUMENT ("flow check failed: …"), or OK.
absl::Status CheckFlowStatus(const FlowCheckInput& input);

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_FLOW_CHECK_H_
