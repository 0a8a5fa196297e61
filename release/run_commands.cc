// Cancels and approvals of a run that another replica executes. The replica that took the call
// writes it to the store (storage/run_command_repository.h) and waits; the replica executing
// the run finds it on its next pick-up round (Executor::PickUp, every half second), applies it
// exactly as a call of its own, and writes the answer; the first replica then answers its
// caller with it and removes the row. No connection between replicas is needed, and a run
// adopted meanwhile is served by whichever replica executes it when the call is read.
#include "absl/strings/str_cat.h"
#include "common/run_state.h"
#include "common/status_macros.h"
#include "release/active_run.h"
#include "release/executor.h"

namespace slipway::release {
namespace {

// How often a waiting call looks for its answer.
constexpr absl::Duration kAnswerPoll = absl::Milliseconds(50);
// Calls applied per pick-up round at most; the rest wait for the next one.
constexpr int kServeBatch = 64;

}  // namespace

absl::StatusOr<v1::Run> Executor::Forward(const storage::RunCommand& command,
                                          const std::string& replica) {
  storage::RunCommand call = command;
  call.created_ms = absl::ToUnixMillis(deps_.clock->Now());
  int64_t seq = 0;
  RETURN_IF_ERROR(deps_.db->Write([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(seq, commands_.Add(tx, call));
    return absl::OkStatus();
  }));
  const absl::Time deadline = deps_.clock->Now() + deps_.forward_timeout;
  while (true) {
    deps_.clock->Sleep(kAnswerPoll);
    std::optional<storage::RunCommand> got;
    v1::Run run;
    RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(got, commands_.Get(tx, seq));
      ASSIGN_OR_RETURN(run, runs_repo_.Get(tx, call.run_id));
      return absl::OkStatus();
    }));
    if (!got.has_value()) {
      return absl::UnavailableError(absl::StrCat("the call about run ", call.run_id,
                                                 " was removed before an answer; try again"));
    }
    if (got->state == storage::RunCommand::kAnswered) {
      deps_.db
          ->Write([&](storage::Transaction& tx) -> absl::Status {
            return commands_.Remove(tx, seq, /*only_waiting=*/false).status();
          })
          .IgnoreError();  // a row left behind is pruned by maintenance
      if (got->code != 0) {
        return absl::Status(static_cast<absl::StatusCode>(got->code), got->message);
      }
      return run;
    }
    const bool taken = got->state == storage::RunCommand::kTaken;
    const bool ended = RunEnded(run.state()) && !taken;
    if (!ended && deps_.clock->Now() < deadline) continue;
    if (taken) {
      // Taken, so maybe applied, but not answered: the replica went away in between.
      return absl::UnavailableError(
          absl::StrCat("replica ", replica, " took the ", call.kind, " of run ", call.run_id,
                       " but did not answer within ", absl::FormatDuration(deps_.forward_timeout),
                       "; the run's events show whether it was applied"));
    }
    // Withdrawn, unless the executing replica took it meanwhile (then wait for the answer).
    bool withdrawn = false;
    RETURN_IF_ERROR(deps_.db->Write([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(withdrawn, commands_.Remove(tx, seq, /*only_waiting=*/true));
      return absl::OkStatus();
    }));
    if (!withdrawn) continue;
    if (ended) {
      return absl::FailedPreconditionError(absl::StrCat("run ", call.run_id, " has already ended (",
                                                        v1::RunState_Name(run.state()), ")"));
    }
    return absl::UnavailableError(absl::StrCat(
        "replica ", replica, ", which executes run ", call.run_id, ", did not take the ", call.kind,
        " within ", absl::FormatDuration(deps_.forward_timeout),
        "; nothing was changed. If that replica is down, another adopts the run within the lease "
        "time: try again then"));
  }
}

absl::Status Executor::ServeForwarded() {
  std::vector<storage::RunCommand> pending;
  RETURN_IF_ERROR(deps_.db->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(pending, commands_.Waiting(tx, kServeBatch));
    return absl::OkStatus();
  }));
  for (const storage::RunCommand& call : pending) {
    {
      absl::MutexLock lock(&mu_);
      auto it = active_.find(call.run_id);
      if (it == active_.end() || it->second->ended) continue;  // executed elsewhere, or over
    }
    bool taken = false;
    RETURN_IF_ERROR(deps_.db->Write([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(taken, commands_.Take(tx, call.seq));
      return absl::OkStatus();
    }));
    if (!taken) continue;  // withdrawn by its caller meanwhile
    std::string remote;
    absl::Status answer;
    if (call.kind == "cancel") {
      answer = CancelHere(call.run_id, call.by, call.text, &remote).status();
    } else if (call.kind == "approve" || call.kind == "reject") {
      answer =
          ApproveHere(call.run_id, call.node, call.by, call.text, call.kind == "reject", &remote)
              .status();
    } else {
      answer = absl::InvalidArgumentError(absl::StrCat("unknown call \"", call.kind, "\""));
    }
    if (!remote.empty()) {
      // Moved on to another replica between the look above and the call.
      answer = absl::UnavailableError(
          absl::StrCat("run ", call.run_id, " moved to replica ", remote, "; try again"));
    }
    RETURN_IF_ERROR(deps_.db->Write([&](storage::Transaction& tx) -> absl::Status {
      return commands_.Answer(tx, call.seq, answer);
    }));
  }
  return absl::OkStatus();
}

}  // namespace slipway::release
