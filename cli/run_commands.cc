// The run and release commands: run (with --wait progress), run get, runs, logs, cancel,
// approve, reject, retry, releases, release get.

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command_group.h"
#include "common/proto_time.h"
#include "common/proto_yaml.h"
#include "common/run_state.h"
#include "slipway/v1/delivery_service.grpc.pb.h"
#include "slipway/v1/release_service.grpc.pb.h"

namespace slipway::cli {
namespace {

struct StartFlags {
  std::string target;             // pipeline/stage
  std::vector<std::string> args;  // k=v
  std::string sha, branch, tag, reason, request_id;
  bool wait = false;
  bool override_hold = false;
};

std::string Short(const google::protobuf::EnumValueDescriptor* v) { return EnumShortName(v); }
std::string StateName(v1::RunState s) {
  return Short(v1::RunState_descriptor()->FindValueByNumber(s));
}
std::string NodeStateName(v1::NodeState s) {
  return Short(v1::NodeState_descriptor()->FindValueByNumber(s));
}

const char* Color(v1::RunState s, bool tty) {
  if (!tty) return "";
  switch (s) {
    case v1::RUN_STATE_SUCCEEDED:
      return "\033[32m";
    case v1::RUN_STATE_FAILED:
    case v1::RUN_STATE_CANCELLED:
      return "\033[31m";
    case v1::RUN_STATE_AWAITING_APPROVAL:
    case v1::RUN_STATE_QUEUED:
      return "\033[33m";
    default:
      return "\033[36m";
  }
}

}  // namespace

int WatchRun(const Connection& c, const std::string& run_id, bool logs_only,
             const std::string& node, bool follow, const Globals& globals) {
  auto stub = v1::ReleaseService::NewStub(c.channel);
  const std::string& output = globals.output;
  const bool tty = globals.color;
  int64_t after = 0;
  // Without --follow, `logs` prints what has happened so far and stops there.
  int64_t stop_at = -1;
  if (logs_only && !follow) {
    v1::GetRunRequest get;
    get.set_id(run_id);
    v1::Run run;
    grpc::Status s = stub->GetRun(c.NewContext().get(), get, &run);
    if (!s.ok()) return RpcFail(s, c);
    stop_at = run.last_event();
  }
  v1::RunState last_state = v1::RUN_STATE_UNSPECIFIED;
  int reconnects = 0;
  while (true) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + c.token);
    v1::WatchRunRequest req;
    req.set_id(run_id);
    req.set_after_sequence(after);
    auto reader = stub->WatchRun(&ctx, req);
    v1::RunEvent e;
    while (reader->Read(&e)) {
      after = e.sequence();
      last_state = e.state();
      if (output != "table") {
        std::fputs((ToJson(e) + "\n").c_str(), stdout);
        continue;
      }
      if (!node.empty() && e.node().ref() != node) continue;
      if (logs_only) {
        if (stop_at >= 0 && after >= stop_at && e.log().empty()) break;
        if (!e.log().empty()) {
          std::printf("%s %-12s %s\n", FormatTimestamp(e.time()).c_str(),
                      e.node().ref().empty() ? "-" : e.node().ref().c_str(), e.log().c_str());
        }
        continue;
      }
      std::string what = e.node().ref().empty()
                             ? absl::StrCat("run ", StateName(e.state()))
                             : absl::StrCat(e.node().ref(), " ", NodeStateName(e.node().state()));
      std::printf("%s%s %-28s%s %s\n", Color(e.state(), tty),
                  FormatTimestamp(e.time()).substr(11, 12).c_str(), what.c_str(),
                  tty ? "\033[0m" : "", e.log().c_str());
      std::fflush(stdout);
      if (stop_at >= 0 && after >= stop_at) break;
    }
    if (stop_at >= 0 && after >= stop_at) {
      ctx.TryCancel();
      (void)reader->Finish();
      return 0;
    }
    grpc::Status s = reader->Finish();
    if (s.ok()) break;
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE && reconnects++ < 30) {
      // The daemon restarted or the connection dropped: resume after the last event seen.
      std::fprintf(stderr, "slipway: connection lost, resuming after event %lld\n",
                   static_cast<long long>(after));
      grpc::ClientContext wait;
      wait.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      c.channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(2));
      continue;
    }
    return RpcFail(s, c);
  }
  if (logs_only) return 0;
  if (!RunEnded(last_state)) {
    auto run_stub = v1::ReleaseService::NewStub(c.channel);
    v1::GetRunRequest get;
    get.set_id(run_id);
    v1::Run run;
    if (run_stub->GetRun(c.NewContext().get(), get, &run).ok()) last_state = run.state();
  }
  if (output == "table") {
    std::printf("run %s %s\n", run_id.c_str(), StateName(last_state).c_str());
  }
  return last_state == v1::RUN_STATE_SUCCEEDED ? 0 : 1;
}

namespace {

int StartRun(const Connection& c, const StartFlags& flags, const Globals& g) {
  const std::string& output = g.output;
  v1::StartRunRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(flags.target, &pipeline, &stage)) {
    return UsageFail("run: expected PIPELINE/STAGE, e.g. shop/staging");
  }
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  for (const std::string& kv : flags.args) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return UsageFail("--arg: expected name=value, got \"" + kv + "\"");
    (*req.mutable_args())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  req.mutable_trigger()->set_sha(flags.sha);
  req.mutable_trigger()->set_branch(flags.branch);
  req.mutable_trigger()->set_tag(flags.tag);
  req.mutable_trigger()->set_reason(flags.reason);
  req.set_request_id(flags.request_id);
  req.set_override_hold(flags.override_hold);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::Run run;
  grpc::Status s = stub->StartRun(c.NewContext().get(), req, &run);
  if (!s.ok()) return RpcFail(s, c);
  if (!flags.wait) {
    if (output == "table") {
      std::printf("run %s %s%s%s\n", run.id().c_str(), StateName(run.state()).c_str(),
                  run.waiting_reason().empty() ? "" : ": ", run.waiting_reason().c_str());
    } else {
      Print(run, output);
    }
    return 0;
  }
  if (output == "table") std::printf("run %s started\n", run.id().c_str());
  return WatchRun(c, run.id(), false, "", true, g);
}

int GetRun(const Connection& c, const std::string& run_id, const std::string& output) {
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::GetRunRequest req;
  req.set_id(run_id);
  v1::Run run;
  grpc::Status s = stub->GetRun(c.NewContext().get(), req, &run);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") {
    Print(run, output);
    return 0;
  }
  std::printf("Run:       %s\nStage:     %s/%s\nState:     %s\n", run.id().c_str(),
              run.pipeline().c_str(), run.stage().c_str(), StateName(run.state()).c_str());
  if (!run.waiting_reason().empty()) std::printf("Waiting:   %s\n", run.waiting_reason().c_str());
  if (!run.error().empty()) std::printf("Error:     %s\n", run.error().c_str());
  std::printf("Trigger:   %s by %s%s%s\n", run.trigger().event().c_str(),
              run.trigger().actor().c_str(), run.trigger().sha().empty() ? "" : " sha ",
              run.trigger().sha().c_str());
  std::printf("Created:   %s\n", FormatTimestamp(run.create_time()).c_str());
  if (run.release() > 0) std::printf("Release:   %lld\n", static_cast<long long>(run.release()));
  std::printf("Nodes:\n  %-16s %-18s %-8s %s\n", "REF", "STATE", "ATTEMPTS", "OUTPUTS / ERROR");
  for (const auto& n : run.nodes()) {
    std::vector<std::string> outs;
    for (const char* k : {"version", "url", "status", "exit_code", "approved_by"}) {
      auto it = n.outputs().find(k);
      if (it != n.outputs().end()) outs.push_back(absl::StrCat(k, "=", it->second));
    }
    std::string detail = n.error().empty() ? absl::StrJoin(outs, " ") : n.error();
    std::printf("  %-16s %-18s %-8d %s\n", n.ref().c_str(), NodeStateName(n.state()).c_str(),
                n.attempts(), detail.c_str());
  }
  return 0;
}

int ListRuns(const Connection& c, const std::string& target, const std::string& state, int limit,
             const std::string& output) {
  v1::ListRunsRequest req;
  std::string pipeline = target, stage;
  if (target.find('/') != std::string::npos && !SplitTarget(target, &pipeline, &stage)) {
    return UsageFail("runs: expected PIPELINE or PIPELINE/STAGE");
  }
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  if (!state.empty()) {
    const auto* v =
        v1::RunState_descriptor()->FindValueByName("RUN_STATE_" + absl::AsciiStrToUpper(state));
    if (v == nullptr) return UsageFail("--state: unknown state \"" + state + "\"");
    req.add_states(static_cast<v1::RunState>(v->number()));
  }
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::ListRunsResponse resp;
  // Pages of at most 100 until `limit` runs or the end.
  do {
    req.set_page_size(std::min(100, limit - resp.runs_size()));
    v1::ListRunsResponse page;
    grpc::Status s = stub->ListRuns(c.NewContext().get(), req, &page);
    if (!s.ok()) return RpcFail(s, c);
    for (auto& r : *page.mutable_runs()) *resp.add_runs() = std::move(r);
    req.set_page_token(page.next_page_token());
  } while (!req.page_token().empty() && resp.runs_size() < limit);
  if (output != "table") {
    Print(resp, output);
    return 0;
  }
  std::printf("%-22s %-18s %-18s %-8s %-25s %s\n", "RUN", "STAGE", "STATE", "RELEASE", "CREATED",
              "TRIGGER");
  for (const auto& r : resp.runs()) {
    std::printf("%-22s %-18s %-18s %-8s %-25s %s %s\n", r.id().c_str(),
                (r.pipeline() + "/" + r.stage()).c_str(), StateName(r.state()).c_str(),
                r.release() > 0 ? std::to_string(r.release()).c_str() : "-",
                FormatTimestamp(r.create_time()).c_str(), r.trigger().event().c_str(),
                r.trigger().sha().c_str());
  }
  return 0;
}

int CancelRun(const Connection& c, const std::string& run_id, const std::string& reason,
              const std::string& output) {
  v1::CancelRunRequest req;
  req.set_id(run_id);
  req.set_reason(reason);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::Run run;
  grpc::Status s = stub->CancelRun(c.NewContext().get(), req, &run);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table")
    Print(run, output);
  else
    std::printf("run %s %s\n", run.id().c_str(), StateName(run.state()).c_str());
  return 0;
}

int ApproveRun(const Connection& c, const std::string& run_id, const std::string& node,
               const std::string& comment, bool reject, const std::string& output) {
  v1::ApproveRunRequest req;
  req.set_id(run_id);
  req.set_node(node);
  req.set_comment(comment);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::Run run;
  grpc::Status s = reject ? stub->RejectRun(c.NewContext().get(), req, &run)
                          : stub->ApproveRun(c.NewContext().get(), req, &run);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table")
    Print(run, output);
  else
    std::printf("run %s: %s %s\n", run.id().c_str(), node.c_str(),
                reject ? "rejected" : "approved");
  return 0;
}

int RetryRun(const Connection& c, const std::string& run_id, const std::string& request_id,
             bool wait, const Globals& g) {
  const std::string& output = g.output;
  v1::RetryRunRequest req;
  req.set_id(run_id);
  req.set_request_id(request_id);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::Run run;
  grpc::Status s = stub->RetryRun(c.NewContext().get(), req, &run);
  if (!s.ok()) return RpcFail(s, c);
  if (output == "table")
    std::printf("run %s started (retry of %s)\n", run.id().c_str(), run_id.c_str());
  else if (!wait)
    Print(run, output);
  return wait ? WatchRun(c, run.id(), false, "", true, g) : 0;
}

int ListReleases(const Connection& c, const std::string& target, const std::string& output) {
  v1::ListReleasesRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage))
    return UsageFail("releases: expected PIPELINE/STAGE");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::ListReleasesResponse resp;
  grpc::Status s = stub->ListReleases(c.NewContext().get(), req, &resp);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") {
    Print(resp, output);
    return 0;
  }
  std::printf("%-8s %-22s %-25s %-10s %s\n", "RELEASE", "RUN", "CREATED", "ROLLBACK", "RESOURCES");
  for (const auto& r : resp.releases()) {
    std::vector<std::string> res;
    for (const auto& s2 : r.resources()) res.push_back(s2.name() + "=" + s2.artifact().version());
    std::printf("%-8lld %-22s %-25s %-10s %s\n", static_cast<long long>(r.number()),
                r.run_id().c_str(), FormatTimestamp(r.create_time()).c_str(),
                r.rollback_of() > 0 ? std::to_string(r.rollback_of()).c_str() : "-",
                absl::StrJoin(res, " ").c_str());
  }
  return 0;
}

int GetRelease(const Connection& c, const std::string& target, int64_t number,
               const std::string& output) {
  v1::GetReleaseRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage))
    return UsageFail("release get: expected PIPELINE/STAGE N");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  req.set_number(number);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::Release release;
  grpc::Status s = stub->GetRelease(c.NewContext().get(), req, &release);
  if (!s.ok()) return RpcFail(s, c);
  Print(release, output == "json" ? "json" : "yaml");
  return 0;
}

class RunGroup final : public CommandGroup {
 public:
  void Register(CLI::App& app) override {
    run_ = app.add_subcommand(
        "run", "Start a run of a stage's release flow (PIPELINE/STAGE), or show one (run get ID)");
    run_->add_option("target", run_words_, "PIPELINE/STAGE, or: get RUN_ID")->required();
    run_->add_option("--arg", start_.args, "Run argument name=value (repeatable)");
    run_->add_option("--sha", start_.sha, "Git SHA being released (${trigger.sha})");
    run_->add_option("--branch", start_.branch, "Branch (${trigger.branch})");
    run_->add_option("--tag", start_.tag, "Tag (${trigger.tag})");
    run_->add_option("--reason", start_.reason, "Why (recorded on the run)");
    run_->add_option("--request-id", start_.request_id,
                     "Idempotency key: a retried CI job attaches to the same run");
    run_->add_flag("--override-hold", start_.override_hold,
                   "Run although the stage is held (recorded; lifts the hold)");
    run_->add_flag("--wait", start_.wait,
                   "Show progress until the run ends; exit 0 only if it succeeded");
    Example(run_, {"slipway run shop/staging --arg image=registry.example.com/shop:1.4.2 --wait",
                   "slipway run shop/prod --sha 9f2c1e7 --request-id \"$CI_JOB_ID\"",
                   "slipway run get run-3b9d2f60c1a84e57"});
    runs_ = app.add_subcommand("runs", "List runs, newest first");
    get_runs_ =
        SharedSubcommand(app, "get", kGetHelp)->add_subcommand("runs", "List runs, newest first");
    for (CLI::App* cmd : {runs_, get_runs_}) {
      cmd->add_option("target", runs_target_, "PIPELINE or PIPELINE/STAGE");
      cmd->add_option("--state", state_, "Only runs in this state (running, failed, …)");
      cmd->add_option("--limit", limit_, "At most this many runs, newest first (1 to 10000)")
          ->check(CLI::Range(1, 10000));
    }
    Example(runs_, {"slipway runs shop/prod --state failed --limit 5"});
    Example(get_runs_, {"slipway get runs shop/prod -o json"});
    logs_ = app.add_subcommand("logs", "Show a run's log lines");
    logs_->add_option("run", logs_run_, "Run id")->required();
    logs_->add_flag("-f,--follow", follow_, "Keep following until the run ends");
    logs_->add_option("--node", logs_node_, "Only this node's lines");
    Example(logs_, {"slipway logs run-3b9d2f60c1a84e57 -f --node deploy"});
    cancel_ = app.add_subcommand("cancel", "Cancel a run");
    cancel_->add_option("run", cancel_run_, "Run id")->required();
    cancel_->add_option("--reason", cancel_reason_, "Why");
    Example(cancel_, {"slipway cancel run-3b9d2f60c1a84e57 --reason 'wrong branch'"});
    approve_ = app.add_subcommand("approve", "Approve a run's approval node");
    reject_ = app.add_subcommand("reject", "Reject a run's approval node (the run fails)");
    for (CLI::App* cmd : {approve_, reject_}) {
      cmd->add_option("run", approval_run_, "Run id")->required();
      cmd->add_option("--node", approval_node_, "The approval node's ref")->required();
      cmd->add_option("--comment", approval_comment_, "Comment");
    }
    Example(approve_, {"slipway approve run-3b9d2f60c1a84e57 --node sign-off --comment 'QA ok'"});
    Example(reject_, {"slipway reject run-3b9d2f60c1a84e57 --node sign-off --comment 'broken'"});
    retry_ = app.add_subcommand("retry", "Start a run again with the same arguments");
    retry_->add_option("run", retry_run_, "Run id")->required();
    retry_->add_option("--request-id", retry_request_id_, "Idempotency key");
    retry_->add_flag("--wait", retry_wait_, "Show progress until the run ends");
    Example(retry_, {"slipway retry run-3b9d2f60c1a84e57 --wait"});
    releases_ = app.add_subcommand("releases", "List a stage's releases, newest first");
    get_releases_ = SharedSubcommand(app, "get", kGetHelp)
                        ->add_subcommand("releases", "List a stage's releases, newest first");
    for (CLI::App* cmd : {releases_, get_releases_}) {
      cmd->add_option("target", releases_target_, "PIPELINE/STAGE")->required();
    }
    Example(releases_, {"slipway releases shop/prod"});
    Example(get_releases_, {"slipway get releases shop/prod -o yaml"});
    release_ = app.add_subcommand("release", "Show a release: release get PIPELINE/STAGE N");
    release_->add_option("words", release_words_, "get PIPELINE/STAGE N")->required();
    Example(release_, {"slipway release get shop/prod 12"});
  }

  std::optional<int> Run(const Globals& g) override {
    const std::string& out = g.output;
    if (run_->parsed()) {
      if (run_words_.size() == 2 && run_words_[0] == "get") {
        return WithConnection(g,
                              [&](const Connection& c) { return GetRun(c, run_words_[1], out); });
      }
      if (run_words_.size() != 1) return UsageFail("run: expected PIPELINE/STAGE or get RUN_ID");
      start_.target = run_words_[0];
      return WithConnection(g, [&](const Connection& c) { return StartRun(c, start_, g); });
    }
    if (runs_->parsed() || get_runs_->parsed()) {
      return WithConnection(
          g, [&](const Connection& c) { return ListRuns(c, runs_target_, state_, limit_, out); });
    }
    if (logs_->parsed()) {
      return WithConnection(g, [&](const Connection& c) {
        return WatchRun(c, logs_run_, true, logs_node_, follow_, g);
      });
    }
    if (cancel_->parsed()) {
      return WithConnection(
          g, [&](const Connection& c) { return CancelRun(c, cancel_run_, cancel_reason_, out); });
    }
    if (approve_->parsed() || reject_->parsed()) {
      return WithConnection(g, [&](const Connection& c) {
        return ApproveRun(c, approval_run_, approval_node_, approval_comment_, reject_->parsed(),
                          out);
      });
    }
    if (retry_->parsed()) {
      return WithConnection(g, [&](const Connection& c) {
        return RetryRun(c, retry_run_, retry_request_id_, retry_wait_, g);
      });
    }
    if (releases_->parsed() || get_releases_->parsed()) {
      return WithConnection(
          g, [&](const Connection& c) { return ListReleases(c, releases_target_, out); });
    }
    if (release_->parsed()) {
      int64_t number = 0;
      if (release_words_.size() != 3 || release_words_[0] != "get" ||
          !absl::SimpleAtoi(release_words_[2], &number)) {
        return UsageFail("release: expected get PIPELINE/STAGE NUMBER");
      }
      return WithConnection(
          g, [&](const Connection& c) { return GetRelease(c, release_words_[1], number, out); });
    }
    return std::nullopt;
  }

 private:
  CLI::App *run_ = nullptr, *runs_ = nullptr, *logs_ = nullptr, *cancel_ = nullptr;
  CLI::App *approve_ = nullptr, *reject_ = nullptr, *retry_ = nullptr;
  CLI::App *releases_ = nullptr, *release_ = nullptr;
  CLI::App *get_runs_ = nullptr, *get_releases_ = nullptr;
  StartFlags start_;
  std::vector<std::string> run_words_, release_words_;
  std::string runs_target_, state_;
  int limit_ = 50;
  std::string logs_run_, logs_node_;
  bool follow_ = false;
  std::string cancel_run_, cancel_reason_;
  std::string approval_run_, approval_node_, approval_comment_;
  std::string retry_run_, retry_request_id_;
  bool retry_wait_ = false;
  std::string releases_target_;
};

}  // namespace

std::unique_ptr<CommandGroup> RunCommands() { return std::make_unique<RunGroup>(); }

}  // namespace slipway::cli
