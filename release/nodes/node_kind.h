// A node kind: what one kind of flow step (deploy, run_job, http_request, ...) does when an
// attempt of it starts. The executor owns everything around it (attempts, skip_if, deadlines,
// retries, events, the journal); a node kind only turns the step and the run's values into
// driver or HTTP work, or into a wait.
//
// Each kind lives in its own file in release/nodes/, and the composition root lists them
// (BuiltinNodeKinds, passed in ExecutorDeps::node_kinds): adding a node kind means adding a
// file and a line there. See docs/adr/0007-executor-structure.md.
#ifndef SLIPWAY_RELEASE_NODES_NODE_KIND_H_
#define SLIPWAY_RELEASE_NODES_NODE_KIND_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "deploy/driver.h"
#include "slipway/v1/pipeline.pb.h"
#include "slipway/v1/release.pb.h"
#include "storage/database.h"

namespace slipway::release {

// What an attempt's work reports. Runs on a background task, without the executor's lock.
struct NodeResult {
  absl::Status status;
  std::map<std::string, std::string> outputs;
  std::vector<std::string> log;
  // A workload the attempt changed (deploy, promote): recorded whatever happens to the node.
  std::optional<v1::ResourceState> resource;
  // For await_condition: false means "checked, not yet true".
  bool condition_met = true;
};

// What a node kind sees when an attempt starts. Everything is borrowed for the call; work that
// runs later must copy what it needs.
struct NodeContext {
  const v1::Run& run;
  const v1::Step& step;
  // The run's values (args.*, trigger.*, refs.*, ...), for templates.
  const std::map<std::string, std::string>& values;
  absl::Time now;
  // The attempt's timeout (the step's, or the default).
  absl::Duration timeout;
  const deploy::DriverRegistry& drivers;
  storage::Database* db;
  const Clock* clock;
  deploy::HttpClient* http;

  // The run's resource `name`, or null.
  const v1::Resource* Resource(const std::string& name) const;
  // The driver a resource names, or null when it is not available.
  deploy::Driver* DriverFor(const v1::Resource& spec) const;
};

// How an attempt starts.
struct NodeStart {
  enum class Kind {
    kFail,           // fails at once with `error` (bad template, unknown resource, ...)
    kWait,           // waits until `wake` (sleep)
    kAwaitApproval,  // waits for approvals
    kWork,           // runs `work` on a background task
  };
  Kind kind = Kind::kFail;
  std::string error;
  absl::Time wake;
  std::string log;
  std::function<NodeResult()> work;

  static NodeStart Fail(std::string error);
  static NodeStart Wait(absl::Time wake, std::string log);
  static NodeStart AwaitApproval(std::string log);
  static NodeStart Work(std::function<NodeResult()> work);
};

class NodeKind {
 public:
  virtual ~NodeKind() = default;
  // Whether an attempt interrupted by a restart may simply be started again (deploy, sleep,
  // ...); if not, it counts as a failed attempt with an unknown outcome.
  virtual bool idempotent() const = 0;
  virtual NodeStart Start(const NodeContext& ctx) const = 0;
};

// The node kinds by the step field that selects them. Not owned.
using NodeKinds = std::map<v1::Step::KindCase, const NodeKind*>;

// Every kind Slipway has: sleep, approval, deploy, promote, run_job, await_condition,
// http_request and message.
NodeKinds BuiltinNodeKinds();

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_NODES_NODE_KIND_H_
