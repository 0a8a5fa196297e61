// The CLI's run and release commands: run (with --wait progress), runs, run get, logs,
// cancel, approve, reject, retry, releases, release get.
#ifndef SLIPWAY_CLI_RUN_COMMANDS_H_
#define SLIPWAY_CLI_RUN_COMMANDS_H_

#include <map>
#include <string>
#include <vector>

#include "cli/connection.h"

namespace slipway::cli {

struct StartFlags {
  std::string target;  // pipeline/stage
  std::vector<std::string> args;  // k=v
  std::string sha, branch, tag, reason, request_id;
  bool wait = false;
  bool override_hold = false;
};

// Each returns the process exit code and prints to stdout/stderr.
int StartRun(const Connection& c, const StartFlags& flags, const std::string& output);
int WatchRun(const Connection& c, const std::string& run_id, bool logs_only,
             const std::string& node, bool follow, const std::string& output);
int GetRun(const Connection& c, const std::string& run_id, const std::string& output);
int ListRuns(const Connection& c, const std::string& target, const std::string& state,
             int limit, const std::string& output);
int CancelRun(const Connection& c, const std::string& run_id, const std::string& reason,
              const std::string& output);
int ApproveRun(const Connection& c, const std::string& run_id, const std::string& node,
               const std::string& comment, bool reject, const std::string& output);
int RetryRun(const Connection& c, const std::string& run_id, const std::string& request_id,
             bool wait, const std::string& output);
int ListReleases(const Connection& c, const std::string& target, const std::string& output);
int GetRelease(const Connection& c, const std::string& target, int64_t number,
               const std::string& output);

struct RollbackFlags {
  std::string target;
  int64_t to = 0;
  bool dry_run = false;
  bool no_wait = false;
  std::string reason, request_id;
};
int Rollback(const Connection& c, const RollbackFlags& flags, const std::string& output);
int Diff(const Connection& c, const std::string& target, int64_t from, int64_t to,
         const std::string& output);
int Hold(const Connection& c, const std::string& target, const std::string& reason,
         const std::string& output);
int Unhold(const Connection& c, const std::string& target, const std::string& output);
int GetStage(const Connection& c, const std::string& target, const std::string& output);
int ListDeliveries(const Connection& c, const std::string& pipeline, const std::string& output);
int GetDelivery(const Connection& c, const std::string& id, const std::string& output);
int Redeliver(const Connection& c, const std::string& id, const std::string& output);

}  // namespace slipway::cli

#endif  // SLIPWAY_CLI_RUN_COMMANDS_H_
