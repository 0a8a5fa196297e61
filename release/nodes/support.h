// What several node kinds share: templates, deploy requests, HTTP status checks and bounds.
#ifndef SLIPWAY_RELEASE_NODES_SUPPORT_H_
#define SLIPWAY_RELEASE_NODES_SUPPORT_H_

#include <cstddef>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "deploy/driver.h"
#include "google/protobuf/repeated_field.h"
#include "release/nodes/node_kind.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::release {

// Outputs (a job's output, an HTTP body) keep at most their last this many bytes.
inline constexpr size_t kMaxOutputBytes = 4096;

// `text` with its ${...} templates evaluated against `values`.
absl::StatusOr<std::string> Resolve(const std::string& text,
                                    const std::map<std::string, std::string>& values);

// The last `max` bytes of `s`.
std::string Truncate(std::string s, size_t max);

// Whether an HTTP status is expected: one of `expect`, or within [lo, hi] when it is empty.
bool StatusExpected(int status, const google::protobuf::RepeatedField<int32_t>& expect, int lo,
                    int hi);

// What a node's background work needs to build driver requests for one resource, copied out
// of the context (which does not outlive the start).
// The hostname label a resource is served at through the router: the preview's name for a
// preview ("pr-62"), "<pipeline>-<stage>" for a stage ("shop-prod"; shortened with a hash past
// 63 characters). Only one service is routed: the one with container.route set, or else the
// stage's first container service with a port; "" for the others.
std::string RouteLabel(const v1::Stage& stage_spec, const std::string& pipeline,
                       const std::string& stage, const v1::Resource& spec);

struct ResourceTarget {
  std::map<std::string, std::string> values;
  std::string pipeline, stage, run_id;
  v1::Resource spec;
  // The hostname label when the resource is routed (see RouteLabel).
  std::string route_label;

  static ResourceTarget Of(const NodeContext& ctx, const v1::Resource& spec);
  // The request with `artifact`: templates in the resource's settings see the run's values plus
  // artifact.*, and the environment names the run.
  absl::StatusOr<deploy::DeployRequest> Request(const v1::Artifact& artifact) const;
};

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_NODES_SUPPORT_H_
