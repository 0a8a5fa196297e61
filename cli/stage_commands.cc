// The stage commands: rollback (with --dry-run and --to), diff, hold, unhold, get stage,
// service-logs.
#include <unistd.h>

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command_group.h"
#include "common/proto_time.h"
#include "common/proto_yaml.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"
#include "slipway/v1/release_service.grpc.pb.h"

namespace slipway::cli {
namespace {

struct RollbackFlags {
  std::string target;
  int64_t to = 0;
  bool dry_run = false;
  bool no_wait = false;
  std::string reason, request_id;
};

void PrintDiff(const v1::ReleaseDiff& diff) {
  if (diff.resources_size() == 0) {
    std::printf("no differences between release %lld and release %lld\n",
                static_cast<long long>(diff.from_release()),
                static_cast<long long>(diff.to_release()));
    return;
  }
  std::printf("release %lld -> release %lld\n", static_cast<long long>(diff.from_release()),
              static_cast<long long>(diff.to_release()));
  for (const auto& r : diff.resources()) {
    std::printf("  %s\n", r.resource().c_str());
    for (const auto& ch : r.changes()) std::printf("    %s\n", ch.c_str());
  }
}

int Rollback(const Connection& c, const RollbackFlags& flags, const Globals& g) {
  const std::string& output = g.output;
  v1::RollbackStageRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(flags.target, &pipeline, &stage))
    return UsageFail("rollback: expected PIPELINE/STAGE");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  req.set_to_release(flags.to);
  req.set_dry_run(flags.dry_run);
  req.set_reason(flags.reason);
  req.set_request_id(flags.request_id);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::RollbackStageResponse resp;
  grpc::Status s = stub->RollbackStage(c.NewContext().get(), req, &resp);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") {
    Print(resp, output);
    if (flags.dry_run || flags.no_wait) return 0;
    return WatchRun(c, resp.run().id(), false, "", true, g);
  }
  PrintDiff(resp.diff());
  for (const auto& line : resp.not_undone()) std::printf("not undone: %s\n", line.c_str());
  std::printf("then held: \"%s\" by %s\n", resp.hold().reason().c_str(),
              resp.hold().held_by().c_str());
  if (flags.dry_run) {
    std::printf("dry run: nothing changed\n");
    return 0;
  }
  std::printf("rollback to release %lld: run %s\n", static_cast<long long>(resp.target_release()),
              resp.run().id().c_str());
  if (flags.no_wait) return 0;
  int rc = WatchRun(c, resp.run().id(), false, "", true, g);
  if (rc == 0)
    std::printf("stage %s is held; `slipway unhold %s` lifts it\n", flags.target.c_str(),
                flags.target.c_str());
  return rc;
}

int Diff(const Connection& c, const std::string& target, int64_t from, int64_t to,
         const std::string& output) {
  v1::DiffReleasesRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage))
    return UsageFail("diff: expected PIPELINE/STAGE FROM TO");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  req.set_from_release(from);
  req.set_to_release(to);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::ReleaseDiff diff;
  grpc::Status s = stub->DiffReleases(c.NewContext().get(), req, &diff);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table")
    Print(diff, output);
  else
    PrintDiff(diff);
  return 0;
}

int Hold(const Connection& c, const std::string& target, const std::string& reason,
         const std::string& output) {
  v1::HoldStageRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage)) return UsageFail("hold: expected PIPELINE/STAGE");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  req.set_reason(reason);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::StageHold hold;
  grpc::Status s = stub->HoldStage(c.NewContext().get(), req, &hold);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table")
    Print(hold, output);
  else
    std::printf("stage %s held (release %lld)\n", target.c_str(),
                static_cast<long long>(hold.pinned_release()));
  return 0;
}

int Unhold(const Connection& c, const std::string& target, const std::string& output) {
  v1::ReleaseHoldRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage)) return UsageFail("unhold: expected PIPELINE/STAGE");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::ReleaseHoldResponse resp;
  grpc::Status s = stub->ReleaseHold(c.NewContext().get(), req, &resp);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table")
    Print(resp, output);
  else
    std::printf("stage %s %s\n", target.c_str(), resp.has_released() ? "released" : "was not held");
  return 0;
}

int GetStage(const Connection& c, const std::string& target, const std::string& output) {
  v1::GetStageRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage))
    return UsageFail("get stage: expected PIPELINE/STAGE");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::StageStatus st;
  grpc::Status s = stub->GetStage(c.NewContext().get(), req, &st);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") {
    Print(st, output);
    return 0;
  }
  std::printf("Stage:     %s/%s\n", st.pipeline().c_str(), st.spec().name().c_str());
  std::printf("Release:   %s\n",
              st.current_release() > 0 ? std::to_string(st.current_release()).c_str() : "none yet");
  if (st.has_hold()) {
    std::printf("Hold:      %s (by %s at %s, pins release %lld)\n", st.hold().reason().c_str(),
                st.hold().held_by().c_str(), FormatTimestamp(st.hold().hold_time()).c_str(),
                static_cast<long long>(st.hold().pinned_release()));
  } else {
    std::printf("Hold:      none\n");
  }
  std::printf("Resources:\n");
  for (const auto& r : st.resources()) {
    auto url = r.status().find("url");
    std::printf("  %-16s version %-16s %s\n", r.name().c_str(), r.artifact().version().c_str(),
                url == r.status().end() ? "" : url->second.c_str());
  }
  std::printf("Recent runs:\n");
  for (const auto& r : st.recent_runs()) {
    std::printf("  %-22s %-10s %-18s %s\n", r.id().c_str(),
                EnumShortName(v1::RunKind_descriptor()->FindValueByNumber(r.kind())).c_str(),
                EnumShortName(v1::RunState_descriptor()->FindValueByNumber(r.state())).c_str(),
                FormatTimestamp(r.create_time()).c_str());
  }
  return 0;
}

// Each stage of `pipeline` in order, with its current release and hold.
int ListStages(const Connection& c, const std::string& pipeline, const std::string& output) {
  v1::GetPipelineRequest get;
  get.set_name(pipeline);
  v1::Pipeline p;
  grpc::Status s =
      v1::PipelineService::NewStub(c.channel)->GetPipeline(c.NewContext().get(), get, &p);
  if (!s.ok()) return RpcFail(s, c);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  std::vector<v1::StageStatus> stages;
  stages.reserve(p.stages_size());
  for (const auto& spec : p.stages()) {
    v1::GetStageRequest req;
    req.set_pipeline(pipeline);
    req.set_stage(spec.name());
    v1::StageStatus st;
    s = stub->GetStage(c.NewContext().get(), req, &st);
    if (!s.ok()) return RpcFail(s, c);
    stages.push_back(std::move(st));
  }
  if (output == "json") {
    // One object per stage, in the protobuf JSON mapping, as a JSON array.
    std::vector<std::string> items;
    items.reserve(stages.size());
    for (const auto& st : stages) items.push_back(ToJson(st));
    std::printf("[%s]\n", absl::StrJoin(items, ",").c_str());
    return 0;
  }
  if (output == "yaml") {
    for (const auto& st : stages) std::printf("---\n%s", ToYaml(st).c_str());
    return 0;
  }
  std::printf("%-20s %-8s %s\n", "STAGE", "RELEASE", "HOLD");
  for (const auto& st : stages) {
    std::printf("%-20s %-8s %s\n", st.spec().name().c_str(),
                st.current_release() > 0 ? std::to_string(st.current_release()).c_str() : "-",
                st.has_hold() ? st.hold().reason().c_str() : "-");
  }
  return 0;
}

class StageGroup final : public CommandGroup {
 public:
  void Register(CLI::App& app) override {
    rollback_ = app.add_subcommand(
        "rollback",
        "Roll a stage back to the release before the current one (or --to N) and hold it");
    rollback_->add_option("target", rollback_flags_.target, "PIPELINE/STAGE")->required();
    rollback_->add_option("--to", rollback_flags_.to, "Release number to go back to");
    rollback_->add_flag("--dry-run", rollback_flags_.dry_run,
                        "Show what would change; change nothing");
    rollback_->add_option("--reason", rollback_flags_.reason, "Why (recorded on the hold)");
    rollback_->add_option("--request-id", rollback_flags_.request_id, "Idempotency key");
    rollback_->add_flag("--no-wait", rollback_flags_.no_wait,
                        "Return once the rollback has started");
    Example(rollback_, {"slipway rollback shop/prod --reason 'checkout 500s'",
                        "slipway rollback shop/prod --to 12 --dry-run"});
    diff_ = app.add_subcommand(
        "diff", "What changed between two releases of a stage, or two revisions of a pipeline");
    diff_->add_option("words", diff_words_, "PIPELINE/STAGE FROM TO, or pipeline NAME FROM TO")
        ->required()
        ->expected(3, 4);
    Example(diff_, {"slipway diff shop/prod 11 12", "slipway diff pipeline shop 3 5"});
    hold_ = app.add_subcommand("hold", "Hold a stage: triggers stop starting runs on it");
    hold_->add_option("target", hold_target_, "PIPELINE/STAGE")->required();
    hold_->add_option("--reason", hold_reason_, "Why")->required();
    Example(hold_, {"slipway hold shop/prod --reason 'freeze for the sale'"});
    unhold_ = app.add_subcommand("unhold", "Lift a stage's hold");
    unhold_->add_option("target", unhold_target_, "PIPELINE/STAGE")->required();
    Example(unhold_, {"slipway unhold shop/prod"});
    service_logs_ = app.add_subcommand("service-logs",
                                       "Show a stage's deployed service output (container logs)");
    service_logs_->add_option("target", logs_target_, "PIPELINE/STAGE")->required();
    service_logs_->add_option("resource", logs_resource_, "The resource")->required();
    service_logs_->add_flag("-f,--follow", logs_follow_, "Keep following new output");
    service_logs_->add_option("--tail", logs_tail_, "Lines of earlier output (default 100)");
    Example(service_logs_, {"slipway service-logs shop/prod web -f --tail 20"});
    CLI::App* get = SharedSubcommand(app, "get", kGetHelp);
    get_stage_ = get->add_subcommand("stage", "Show a stage: release, hold, resources, runs");
    get_stage_->add_option("target", stage_target_, "PIPELINE/STAGE")->required();
    Example(get_stage_, {"slipway get stage shop/prod"});
    get_stages_ = get->add_subcommand("stages", "List a pipeline's stages: release and hold");
    get_stages_->add_option("pipeline", stages_pipeline_, "Pipeline name")->required();
    Example(get_stages_, {"slipway get stages shop", "slipway get stages shop -o json"});
  }

  std::optional<int> Run(const Globals& g) override {
    const std::string& out = g.output;
    if (rollback_->parsed()) {
      return WithConnection(g,
                            [&](const Connection& c) { return Rollback(c, rollback_flags_, g); });
    }
    if (diff_->parsed() && diff_words_.size() == 4) {
      int64_t from = 0, to = 0;
      if (diff_words_[0] != "pipeline" || !absl::SimpleAtoi(diff_words_[2], &from) ||
          !absl::SimpleAtoi(diff_words_[3], &to)) {
        return UsageFail("diff: expected pipeline NAME FROM TO (revision numbers)");
      }
      return WithConnection(g, [&](const Connection& c) {
        return DiffPipeline(c, diff_words_[1], from, to, g.output);
      });
    }
    if (diff_->parsed()) {
      int64_t from = 0, to = 0;
      if (!absl::SimpleAtoi(diff_words_[1], &from) || !absl::SimpleAtoi(diff_words_[2], &to)) {
        return UsageFail("diff: expected PIPELINE/STAGE FROM TO (release numbers)");
      }
      return WithConnection(
          g, [&](const Connection& c) { return Diff(c, diff_words_[0], from, to, out); });
    }
    if (hold_->parsed()) {
      return WithConnection(
          g, [&](const Connection& c) { return Hold(c, hold_target_, hold_reason_, out); });
    }
    if (unhold_->parsed()) {
      return WithConnection(g, [&](const Connection& c) { return Unhold(c, unhold_target_, out); });
    }
    if (service_logs_->parsed()) {
      v1::WatchResourceLogsRequest req;
      std::string pipeline, stage;
      if (!SplitTarget(logs_target_, &pipeline, &stage)) {
        return UsageFail("service-logs: expected PIPELINE/STAGE RESOURCE");
      }
      req.set_pipeline(pipeline);
      req.set_stage(stage);
      req.set_resource(logs_resource_);
      req.set_follow(logs_follow_);
      req.set_tail_lines(logs_tail_);
      return WithConnection(g, [&](const Connection& c) { return StreamResourceLogs(c, req); });
    }
    if (get_stages_->parsed()) {
      return WithConnection(
          g, [&](const Connection& c) { return ListStages(c, stages_pipeline_, out); });
    }
    if (get_stage_->parsed()) {
      return WithConnection(g,
                            [&](const Connection& c) { return GetStage(c, stage_target_, out); });
    }
    return std::nullopt;
  }

 private:
  CLI::App *rollback_ = nullptr, *diff_ = nullptr, *hold_ = nullptr, *unhold_ = nullptr;
  CLI::App *get_stage_ = nullptr, *get_stages_ = nullptr;
  std::string stages_pipeline_;
  CLI::App* service_logs_ = nullptr;
  std::string logs_target_, logs_resource_;
  bool logs_follow_ = false;
  int logs_tail_ = 0;
  RollbackFlags rollback_flags_;
  std::vector<std::string> diff_words_;
  std::string hold_target_, hold_reason_, unhold_target_, stage_target_;
};

}  // namespace

std::unique_ptr<CommandGroup> StageCommands() { return std::make_unique<StageGroup>(); }

}  // namespace slipway::cli
