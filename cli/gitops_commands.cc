// `slipway gitops enable|disable|status`: a pipeline kept in a file of one of its sources.
#include <cstdio>

#include "cli/command_group.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"

namespace slipway::cli {
namespace {

class GitOpsGroup final : public CommandGroup {
 public:
  void Register(CLI::App& app) override {
    CLI::App* gitops = app.add_subcommand("gitops",
                                          "Keep a pipeline in a Git file: pushes apply it, edits "
                                          "through Slipway are committed to it");
    gitops->require_subcommand(1);
    Example(gitops, {"slipway gitops enable shop --source app --branch main --path "
                     ".slipway/shop.yaml"});
    enable_ = gitops->add_subcommand(
        "enable", "Bind a pipeline to a file and sync now (a missing file gets the current spec)");
    enable_->add_option("pipeline", pipeline_, "Pipeline name")->required();
    enable_->add_option("--source", source_, "A source of the pipeline with a clone_url")
        ->required();
    enable_->add_option("--branch", branch_, "Branch (default main)");
    enable_->add_option("--path", path_,
                        "File in the repository (default .slipway/<pipeline>.yaml)");
    Example(enable_, {"slipway gitops enable shop --source app --branch main --path "
                      ".slipway/shop.yaml",
                      "slipway gitops enable shop-eu --source app --path .slipway/shop.yaml"});
    disable_ = gitops->add_subcommand("disable", "Unbind; the pipeline stays as it is");
    disable_->add_option("pipeline", pipeline_, "Pipeline name")->required();
    Example(disable_, {"slipway gitops disable shop"});
    status_ = gitops->add_subcommand("status", "Where the sync stands, with every error");
    status_->add_option("pipeline", pipeline_, "Pipeline name")->required();
    Example(status_, {"slipway gitops status shop", "slipway gitops status shop -o json"});
  }

  std::optional<int> Run(const Globals& g) override {
    if (!enable_->parsed() && !disable_->parsed() && !status_->parsed()) return std::nullopt;
    return WithConnection(g, [&](const Connection& c) {
      auto stub = v1::PipelineService::NewStub(c.channel);
      v1::GitOpsBinding binding;
      grpc::Status s;
      if (disable_->parsed()) {
        v1::DisableGitOpsRequest req;
        req.set_pipeline(pipeline_);
        v1::DisableGitOpsResponse resp;
        s = stub->DisableGitOps(c.NewContext().get(), req, &resp);
        if (!s.ok()) return RpcFail(s, c);
        std::printf("pipeline/%s unbound from Git\n", pipeline_.c_str());
        return 0;
      }
      if (enable_->parsed()) {
        v1::EnableGitOpsRequest req;
        req.set_pipeline(pipeline_);
        req.set_source(source_);
        req.set_branch(branch_);
        req.set_path(path_);
        s = stub->EnableGitOps(c.NewContext().get(), req, &binding);
      } else {
        v1::GetGitOpsRequest req;
        req.set_pipeline(pipeline_);
        s = stub->GetGitOps(c.NewContext().get(), req, &binding);
      }
      if (!s.ok()) return RpcFail(s, c);
      if (g.output != "table") {
        Print(binding, g.output);
      } else {
        std::printf("pipeline/%s\n", pipeline_.c_str());
        PrintGitOps(binding);
      }
      // A binding whose last sync failed is not a success for a script.
      return binding.state() == v1::GITOPS_STATE_FAILED ? 1 : 0;
    });
  }

 private:
  CLI::App* enable_ = nullptr;
  CLI::App* disable_ = nullptr;
  CLI::App* status_ = nullptr;
  std::string pipeline_, source_, branch_, path_;
};

}  // namespace

std::unique_ptr<CommandGroup> GitOpsCommands() { return std::make_unique<GitOpsGroup>(); }

}  // namespace slipway::cli
