// The dry run a flow passes before its first node runs: every expression in every node parses,
// calls known functions with the right types, and reads only what will exist when the node
// runs — run arguments that were given, trigger values, and outputs of nodes that will have
// finished before it (an earlier step of a sequential list, never a later node or a parallel
// sibling). Errors name the node's field path and the position in the expression. The same
// check runs at apply time (pipeline validation, with any arguments allowed) and at run start,
// so a spec that applies cleanly never fails it later except for a missing argument.
#ifndef SLIPWAY_EXPRESSION_FLOW_CHECK_H_
#define SLIPWAY_EXPRESSION_FLOW_CHECK_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::expression {

// The values every run offers under `trigger.`.
const std::set<std::string>& TriggerFields();

// The outputs a node of this kind offers as `${refs.<ref>.<field>}`.
const std::set<std::string>& OutputFields(v1::Step::KindCase kind);

struct FlowCheckInput {
  const v1::Flow* flow = nullptr;
  // Resources the flow may name (the stage's or the blueprint's).
  const google::protobuf::RepeatedPtrField<v1::Resource>* resources = nullptr;
  // Field paths of the flow and of the resources, for messages: "stages[dev].flow",
  // "stages[dev].resources".
  std::string field;
  std::string resources_field = "resources";
  // The run's arguments.
  std::map<std::string, std::string> args;
  // True for preview blueprint flows, where `preview.*` may be read.
  bool preview = false;
  // True at apply time, when the run's arguments are not known yet: any `args.<name>` may be
  // read (run start then checks the arguments given).
  bool any_args = false;
  // True at apply time for a pipeline that declares arguments: `args` holds the declared names,
  // and reading another is reported as undeclared.
  bool declared_args = false;
};

// Returns every problem, each as "field.path: what is wrong"; empty if the flow may run.
std::vector<std::string> CheckFlow(const FlowCheckInput& input);

// The first problem as INVALID_ARGUMENT ("flow check failed: …"), or OK.
absl::Status CheckFlowStatus(const FlowCheckInput& input);

}  // namespace slipway::expression

#endif  // SLIPWAY_EXPRESSION_FLOW_CHECK_H_
