// Starting processes without a shell: argv and environment are passed as they are, each
// process in its own session (so a whole process group can be signalled), watched through a
// pidfd (which also works for processes adopted after a controller restart).
#ifndef SLIPWAY_DEPLOY_SUBPROCESS_H_
#define SLIPWAY_DEPLOY_SUBPROCESS_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace slipway::deploy {

struct SpawnOptions {
  std::vector<std::string> argv;
  // The complete environment of the child (nothing is inherited implicitly).
  std::map<std::string, std::string> env;
  std::string working_dir;
  // stdout and stderr go here (appended); /dev/null if empty.
  std::string log_path;
};

// Starts the process in a new session. INVALID_ARGUMENT for an empty argv; NOT_FOUND if the
// program does not exist; INTERNAL for other spawn failures.
absl::StatusOr<pid_t> Spawn(const SpawnOptions& options);

// The start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), which tells
// a process from a later one that reused its pid. NOT_FOUND if there is no such process.
absl::StatusOr<int64_t> ProcessStartTime(pid_t pid);

// Waits up to `timeout` for `pid` to exit; reaps it if it is our child. Returns true if it
// exited (or does not exist), false on timeout.
bool WaitForExit(pid_t pid, absl::Duration timeout);

// SIGTERM to the process group, then SIGKILL if it is still there after `grace`.
void StopProcessGroup(pid_t pid, absl::Duration grace);

struct CommandResult {
  int exit_code = 0;
  // The last bytes of stdout and stderr, interleaved.
  std::string output;
  bool timed_out = false;
};

// Runs to completion (or kills its group after `timeout`) and captures its output.
absl::StatusOr<CommandResult> RunCommand(const SpawnOptions& options, absl::Duration timeout);

// A process found by the environment variable it carries.
struct MarkedProcess {
  pid_t pid = 0;
  // Its process group (a spawned process leads its own).
  pid_t pgid = 0;
  // The variable's value.
  std::string value;
};

// Every live process of this user whose environment has `name`=`value_prefix`..., read from
// /proc/<pid>/environ (processes we cannot read are skipped).
std::vector<MarkedProcess> FindProcessesByEnv(const std::string& name,
                                              const std::string& value_prefix);

// SIGTERM to each process group, then SIGKILL to each group once its leader has exited or had
// `grace` to.
void StopProcessGroups(const std::vector<pid_t>& pgids, absl::Duration grace);

// PATH and HOME of this process, to give children a usable environment.
std::map<std::string, std::string> BaseEnvironment();

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_SUBPROCESS_H_
