// Commands about the CLI itself: `version` (the client's and the server's), `completion
// bash|zsh|fish` and the hidden `man`, which print what common/cli_docs.h derives from the
// command tree. Only `version` connects to slipwayd.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "cli/command_group.h"
#include "common/cli_docs.h"
#include "common/proto_time.h"
#include "common/proto_yaml.h"
#include "common/version.h"
#include "slipway/v1/admin_service.grpc.pb.h"

namespace slipway::cli {
namespace {

// The client's version, then the server's; exit 1 (after the client's) if the server cannot
// be asked.
int Version(const Globals& g) {
  const std::string client = slipway::Version();
  auto conn = g.connect();
  v1::ServerInfo info;
  grpc::Status s;
  if (conn.ok()) {
    s = v1::AdminService::NewStub(conn->channel)
            ->GetServerInfo(conn->NewContext().get(), v1::GetServerInfoRequest(), &info);
  }
  if (g.output == "table") {
    std::printf("client: slipway %s\n", client.c_str());
    if (conn.ok() && s.ok()) {
      std::printf("server: slipwayd %s at %s (started %s, storage %s)\n", info.version().c_str(),
                  conn->address.c_str(), FormatTimestamp(info.start_time()).c_str(),
                  info.storage().c_str());
    }
  } else {
    // {"client": {"version": ...}, "server": ServerInfo}
    std::string server = conn.ok() && s.ok() ? ToJson(info) : "null";
    std::printf("{\"client\": {\"version\": \"%s\"}, \"server\": %s}\n", client.c_str(),
                server.c_str());
  }
  if (!conn.ok()) return Fail(std::string(conn.status().message()));
  if (!s.ok()) return RpcFail(s, *conn);
  return 0;
}

class DocsGroup final : public CommandGroup {
 public:
  void Register(CLI::App& app) override {
    version_ = app.add_subcommand("version", "Show the client's and the server's versions");
    Example(version_, {"slipway version", "slipway version -o json"});
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
    if (version_->parsed()) return Version(g);
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
  CLI::App *version_ = nullptr, *completion_ = nullptr, *man_ = nullptr;
  std::string shell_;
};

}  // namespace

std::unique_ptr<CommandGroup> DocsCommands() { return std::make_unique<DocsGroup>(); }

}  // namespace slipway::cli
