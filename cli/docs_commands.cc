// Commands about the CLI itself: `completion bash|zsh|fish` and the hidden `man`, which print
// what common/cli_docs.h derives from the command tree. Neither connects to slipwayd.
#include <cstdio>

#include "cli/command_group.h"
#include "common/cli_docs.h"

namespace slipway::cli {
namespace {

class DocsGroup final : public CommandGroup {
 public:
  void Register(CLI::App& app) override {
    completion_ = app.add_subcommand("completion", "Print a shell completion script");
    completion_->add_option("shell", shell_, "bash, zsh or fish")
        ->required()
        ->check(CLI::IsMember({"bash", "zsh", "fish"}));
    completion_->footer(
        "Example:\n  source <(slipway completion bash)\n"
        "  slipway completion zsh > \"${fpath[1]}/_slipway\"\n"
        "  slipway completion fish > ~/.config/fish/completions/slipway.fish");
    man_ = app.add_subcommand("man", "Print the slipway(1) man page");
    man_->group("");  // for packagers: not listed in the help
  }

  std::optional<int> Run(const Globals& g) override {
    if (completion_->parsed()) {
      std::fputs(CompletionScript(*g.app, "slipway", shell_).c_str(), stdout);
      return 0;
    }
    if (man_->parsed()) {
      ManExtras extras;
      extras.environment =
          "SLIPWAY_SERVER\tslipwayd's gRPC address, when --server is not given\n"
          "SLIPWAY_TOKEN\tthe bearer token, when --token is not given\n"
          "SLIPWAY_DATA_DIR\tthe local daemon's data dir (default ~/.local/share/slipway)\n"
          "SLIPWAY_CA_CERT\ta PEM CA certificate to verify the server with (implies --tls)\n"
          "NO_COLOR\tset to anything: no colours\n";
      extras.files =
          "~/.local/share/slipway/admin.token\tthe local daemon's admin token\n"
          "/var/lib/slipway/admin.token\tthe packaged daemon's admin token (readable by root)\n";
      extras.exit_status =
          "0\tsuccess\n"
          "1\tan error from the server, in the input, or a run that did not succeed\n"
          "2\ta usage error: an unknown command or flag, or arguments a command cannot take\n";
      std::fputs(ManPage(*g.app, "slipway", 1, extras).c_str(), stdout);
      return 0;
    }
    return std::nullopt;
  }

 private:
  CLI::App *completion_ = nullptr, *man_ = nullptr;
  std::string shell_;
};

}  // namespace

std::unique_ptr<CommandGroup> DocsCommands() { return std::make_unique<DocsGroup>(); }

}  // namespace slipway::cli
