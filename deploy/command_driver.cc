#include "deploy/command_driver.h"

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "deploy/subprocess.h"

namespace slipway::deploy {
namespace {

SpawnOptions Options(const DeployRequest& request,
                     const google::protobuf::RepeatedPtrField<std::string>& argv) {
  SpawnOptions o;
  o.argv.assign(argv.begin(), argv.end());
  o.env = BaseEnvironment();
  for (const auto& [k, v] : request.spec.command().env()) o.env[k] = v;
  for (const auto& [k, v] : request.env) o.env[k] = v;
  o.env["SLIPWAY_KEY"] = request.key;
  o.working_dir = request.spec.command().working_dir();
  return o;
}

absl::Duration Timeout(const DeployRequest& request) {
  return DurationOr(request.spec.command().timeout(), absl::Minutes(10));
}

absl::StatusOr<CommandResult> Run(const DeployRequest& request, const SpawnOptions& options,
                                  absl::Duration timeout, const char* what) {
  ASSIGN_OR_RETURN(CommandResult r, RunCommand(options, timeout));
  if (r.timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        request.key, ": ", what, " did not finish within ", absl::FormatDuration(timeout)));
  }
  return r;
}

std::string Tail(const std::string& s) { return s.size() > 2048 ? s.substr(s.size() - 2048) : s; }

}  // namespace

absl::StatusOr<DeployResult> CommandDriver::Apply(const DeployRequest& request) {
  if (request.spec.command().apply_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(request.key, ": command.apply is empty"));
  }
  ASSIGN_OR_RETURN(CommandResult r, Run(request, Options(request, request.spec.command().apply()),
                                        Timeout(request), "apply"));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat(request.key, ": apply exited with status ", r.exit_code,
                                            ": ", Tail(r.output)));
  }
  DeployResult result;
  result.status["output"] = Tail(r.output);
  return result;
}

absl::StatusOr<bool> CommandDriver::Healthy(const DeployRequest& request) {
  if (request.spec.command().status_size() == 0) return true;
  ASSIGN_OR_RETURN(CommandResult r, Run(request, Options(request, request.spec.command().status()),
                                        Timeout(request), "status"));
  return r.exit_code == 0;
}

absl::StatusOr<JobResult> CommandDriver::RunJob(const DeployRequest& request,
                                                const std::vector<std::string>& extra_args,
                                                absl::Duration timeout) {
  SpawnOptions o = Options(request, request.spec.command().apply());
  o.argv.insert(o.argv.end(), extra_args.begin(), extra_args.end());
  ASSIGN_OR_RETURN(CommandResult r, Run(request, o, timeout, "job"));
  return JobResult{r.exit_code, std::move(r.output)};
}

absl::Status CommandDriver::Teardown(const DeployRequest& request) {
  if (request.spec.command().teardown_size() == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(CommandResult r,
                   Run(request, Options(request, request.spec.command().teardown()),
                       Timeout(request), "teardown"));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat(request.key, ": teardown exited with status ",
                                            r.exit_code, ": ", Tail(r.output)));
  }
  return absl::OkStatus();
}

}  // namespace slipway::deploy
