// The `process` driver: each service instance is a supervised child process started without a
// shell (argv, environment, working directory, an allocated port passed as PORT), in its own
// session so its whole process group can be stopped. Exited services are restarted with
// backoff; stdout and stderr go to a size-bounded log file. Instance records are kept in the
// state directory, so after a controller restart each service is re-adopted if it still runs
// (same pid and start time) or started again.
#ifndef SLIPWAY_DEPLOY_PROCESS_DRIVER_H_
#define SLIPWAY_DEPLOY_PROCESS_DRIVER_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "deploy/driver.h"

namespace slipway::deploy {

struct ProcessDriverOptions {
  // Instance records and logs live here; created if missing.
  std::string state_dir;
  // A log file is truncated when it grows past this.
  int64_t max_log_bytes = 10 << 20;
  absl::Duration stop_grace = absl::Seconds(10);
  // Restart backoff: doubles from `restart_backoff` up to `max_restart_backoff`.
  absl::Duration restart_backoff = absl::Seconds(1);
  absl::Duration max_restart_backoff = absl::Minutes(1);
  // How long Apply watches a new process for an immediate exit.
  absl::Duration startup_watch = absl::Milliseconds(100);
};

// Thread-safe. Not owned collaborators must outlive it.
class ProcessDriver final : public Driver {
 public:
  ProcessDriver(ProcessDriverOptions options, const Clock* clock, HttpClient* http);
  ~ProcessDriver() override;

  // Loads the instance records, re-adopting running services; the ones that are gone are
  // started again by the next Supervise().
  absl::Status Load();

  absl::StatusOr<DeployResult> Apply(const DeployRequest& request) override;
  absl::StatusOr<bool> Healthy(const DeployRequest& request) override;
  absl::StatusOr<JobResult> RunJob(const DeployRequest& request,
                                   const std::vector<std::string>& extra_args,
                                   absl::Duration timeout) override;
  absl::Status Teardown(const DeployRequest& request) override;

  // One supervision pass at the clock's now: restarts services that exited once their backoff
  // has passed, and truncates oversized logs. Returns how many services were started.
  int Supervise();

  // The pid of a running instance, for tests and status output.
  std::optional<pid_t> PidOf(const std::string& key);
  // Keys of every instance this driver manages.
  std::vector<std::string> Keys();

  struct Instance;

 private:
  std::shared_ptr<Instance> Find(const std::string& key);
  // Both need inst.mu held.
  absl::Status StartLocked(Instance& inst);
  absl::Status Save(const Instance& inst);
  std::string RecordPath(const std::string& key) const;

  const ProcessDriverOptions options_;
  const Clock* clock_;
  HttpClient* http_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Instance>> instances_ ABSL_GUARDED_BY(mu_);
};

// Binds 127.0.0.1:0 and returns the port the kernel chose (then closes the socket).
absl::StatusOr<int> AllocatePort();

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_PROCESS_DRIVER_H_
