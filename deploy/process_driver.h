// The `process` driver: each service instance is a supervised child process started without a
// shell (argv, environment, working directory, an allocated port passed as PORT), in its own
// session so its whole process group can be stopped. Exited services are restarted with
// backoff; stdout and stderr go to a size-bounded log file. Instance records are kept in the
// state directory, so after a controller restart each service is re-adopted if it still runs
// (same pid and start time) or started again.
//
// No strays: every process the driver starts carries SLIPWAY_PROCESS_TAG=<owner>:<nonce> in its
// environment, where <owner> is generated once per state directory and <nonce> once per start.
// The record of a start (its intent, with the nonce) is written before the process is spawned,
// and a teardown is recorded before it stops anything. On Load, every process carrying this
// driver's owner tag that is not the recorded, live process of its instance (one spawned just
// before a crash, a job that was running, a service whose teardown was interrupted) is stopped
// with its process group.
#ifndef SLIPWAY_DEPLOY_PROCESS_DRIVER_H_
#define SLIPWAY_DEPLOY_PROCESS_DRIVER_H_

#include <sys/types.h>

#include <functional>
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
  // How long Load gives strays to exit on SIGTERM before SIGKILL.
  absl::Duration stray_grace = absl::Seconds(2);
  // Called right after a service process is spawned and before its pid is recorded; an error
  // ends the start there, as a crash at that point would. For failure tests; null in use.
  std::function<absl::Status()> after_spawn;
};

// The environment variable that tags every process the driver starts.
inline constexpr char kProcessTagVariable[] = "SLIPWAY_PROCESS_TAG";

// Thread-safe. Not owned collaborators must outlive it.
class ProcessDriver final : public Driver {
 public:
  ProcessDriver(ProcessDriverOptions options, const Clock* clock, HttpClient* http);
  ~ProcessDriver() override;

  // Loads the instance records, re-adopting running services; the ones that are gone are
  // started again by the next Supervise(). Then stops every stray (see above).
  absl::Status Load();

  // How many process groups the last Load stopped as strays.
  int strays_stopped() const { return strays_stopped_; }

  absl::StatusOr<DeployResult> Apply(const DeployRequest& request) override;
  absl::StatusOr<bool> Healthy(const DeployRequest& request) override;
  absl::StatusOr<JobResult> RunJob(const DeployRequest& request,
                                   const std::vector<std::string>& extra_args,
                                   absl::Duration timeout) override;
  absl::Status Teardown(const DeployRequest& request) override;
  // A service is a child of this machine's slipwayd: another replica cannot drive it.
  bool shared() const override { return false; }

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
  std::string Tag(const std::string& nonce) const { return owner_ + ":" + nonce; }
  // Stops every tagged process that is not the live process of a loaded instance; removes
  // the instances whose teardown was interrupted. Needs mu_ held.
  void StopStraysLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ProcessDriverOptions options_;
  const Clock* clock_;
  HttpClient* http_;
  // Set by Load from <state_dir>/owner.
  std::string owner_;
  int strays_stopped_ = 0;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Instance>> instances_ ABSL_GUARDED_BY(mu_);
};

// Binds 127.0.0.1:0 and returns the port the kernel chose (then closes the socket).
absl::StatusOr<int> AllocatePort();

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_PROCESS_DRIVER_H_
