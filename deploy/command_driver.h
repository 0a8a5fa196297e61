// The `command` driver: the integration point for existing tooling. A resource names argv
// commands for apply, status and teardown (helm, kubectl, terraform, a script); each runs
// without a shell, with a timeout, its output captured, and every value — artifact, run,
// trigger — passed as SLIPWAY_* environment variables.
#ifndef SLIPWAY_DEPLOY_COMMAND_DRIVER_H_
#define SLIPWAY_DEPLOY_COMMAND_DRIVER_H_

#include "deploy/driver.h"

namespace slipway::deploy {

// Thread-safe and stateless.
class CommandDriver final : public Driver {
 public:
  absl::StatusOr<DeployResult> Apply(const DeployRequest& request) override;
  // True when there is no status command or it exits 0.
  absl::StatusOr<bool> Healthy(const DeployRequest& request) override;
  // Runs the apply command with `extra_args` appended.
  absl::StatusOr<JobResult> RunJob(const DeployRequest& request,
                                   const std::vector<std::string>& extra_args,
                                   absl::Duration timeout) override;
  absl::Status Teardown(const DeployRequest& request) override;
};

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_COMMAND_DRIVER_H_
