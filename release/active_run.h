// The executor's in-memory state of one run, shared by its files (executor.cc, run_start.cc,
// flow_walk.cc). Internal to release/.
#ifndef SLIPWAY_RELEASE_ACTIVE_RUN_H_
#define SLIPWAY_RELEASE_ACTIVE_RUN_H_

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "release/executor.h"

namespace slipway::release {

// A finished attempt's result, for the run and node it belongs to.
struct Executor::Completion {
  std::string run_id;
  std::string path;
  int attempt = 0;
  NodeResult result;
};

struct Executor::ActiveRun {
  v1::Run run;
  std::map<std::string, int> node_index;
  std::map<std::string, const v1::Step*> steps;
  int in_flight = 0;
  bool ended = false;
  // Start is writing this run's first state outside the executor's lock: nothing may start its
  // nodes or write it until that commit is done.
  bool starting = false;
  // Listed in dirty_runs_: its record changed since it was last written.
  bool dirty = false;
  // Its entry in timers_ (InfiniteFuture: none).
  absl::Time due = absl::InfiniteFuture();

  void Index() {
    node_index.clear();
    steps.clear();
    for (int i = 0; i < run.nodes_size(); ++i) node_index[run.nodes(i).path()] = i;
    const v1::Flow& flow = run.stage_spec().flow();
    if (flow.has_sequential()) IndexSteps(flow.sequential(), "sequential");
    if (flow.has_parallel()) IndexSteps(flow.parallel(), "parallel");
  }
  void IndexSteps(const v1::Steps& s, const std::string& path) {
    for (int i = 0; i < s.steps_size(); ++i) {
      std::string p = absl::StrCat(path, "[", i, "]");
      steps[p] = &s.steps(i);
      if (s.steps(i).has_sequential()) IndexSteps(s.steps(i).sequential(), p + ".sequential");
      if (s.steps(i).has_parallel()) IndexSteps(s.steps(i).parallel(), p + ".parallel");
    }
  }
  v1::NodeStatus* Node(const std::string& path) {
    auto it = node_index.find(path);
    return it == node_index.end() ? nullptr : run.mutable_nodes(it->second);
  }
  const v1::Resource* Resource(const std::string& name) const {
    for (const auto& r : run.stage_spec().resources()) {
      if (r.name() == name) return &r;
    }
    return nullptr;
  }
};

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_ACTIVE_RUN_H_
