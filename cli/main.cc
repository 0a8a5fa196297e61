// slipway: the command-line client of slipwayd. Human tables by default, `-o json` or
// `-o yaml` for scripts. Exit codes: 0 success, 1 an error from the server or in the input
// (the message is printed), 2 a usage error.
//
// main only sets up the global flags and dispatches: each command group (command_group.h)
// registers its own commands and flags, in its own file.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "cli/command_group.h"
#include "cli/connection.h"
#include "common/cli_docs.h"
#include "common/version.h"

namespace {

int Main(int argc, char** argv) {
  CLI::App app{"the Slipway release controller's command-line client", "slipway"};
  app.set_version_flag("--version", std::string("slipway ") + slipway::Version());
  app.require_subcommand(1);
  // Global flags may also follow the subcommand: `slipway get pipeline shop -o yaml`.
  app.fallthrough();
  slipway::cli::ConnectionFlags flags;
  slipway::cli::Globals globals;
  app.add_option("--server", flags.server,
                 "slipwayd gRPC address host:port "
                 "(default: $SLIPWAY_SERVER, the local daemon, "
                 "127.0.0.1:7420)");
  app.add_option("--token", flags.token,
                 "Bearer token (default: $SLIPWAY_TOKEN or the local "
                 "daemon's admin.token)");
  app.add_option("--data-dir", flags.data_dir,
                 "Local daemon's data dir, where the token and "
                 "ports are found");
  app.add_flag("--tls", flags.tls, "Connect with TLS");
  app.add_option("--ca-cert", flags.ca_cert,
                 "PEM CA certificate to verify the server (implies "
                 "--tls)");
  app.add_option("--timeout", flags.timeout_seconds, "Seconds to wait for each call")
      ->check(CLI::PositiveNumber);
  app.add_option("-o,--output", globals.output, "Output: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  bool no_color = false;
  app.add_flag("--no-color", no_color, "No colours in tables (also: NO_COLOR set to anything)");

  std::vector<std::unique_ptr<slipway::cli::CommandGroup>> groups;
  groups.push_back(slipway::cli::PipelineCommands());
  groups.push_back(slipway::cli::TokenCommands());
  groups.push_back(slipway::cli::RunCommands());
  groups.push_back(slipway::cli::StageCommands());
  groups.push_back(slipway::cli::DeliveryCommands());
  groups.push_back(slipway::cli::PreviewCommands());
  groups.push_back(slipway::cli::AuditCommands());
  groups.push_back(slipway::cli::GitOpsCommands());
  groups.push_back(slipway::cli::ReplicaCommands());
  groups.push_back(slipway::cli::DocsCommands());
  for (auto& group : groups) group->Register(app);
  // The commands that only group others get an example too.
  for (CLI::App* cmd : app.get_subcommands([](CLI::App*) { return true; })) {
    if (cmd->get_name() == "get") {
      slipway::cli::Example(cmd, {"slipway get pipelines", "slipway get runs shop/prod --limit 5",
                                  "slipway get stage shop/prod -o yaml"});
    } else if (cmd->get_name() == "delete") {
      slipway::cli::Example(cmd, {"slipway delete pipeline shop"});
    } else if (cmd->get_name() == "token") {
      slipway::cli::Example(cmd, {"slipway token create --scope read --description dashboards"});
    }
  }
  // Set after the commands, which would otherwise inherit it.
  app.footer(
      "Talks to slipwayd over gRPC. Human tables by default; -o json and -o yaml print the "
      "protobuf JSON mapping for scripts.\n"
      "Example:\n  slipway apply -f pipeline.yaml && slipway run shop/staging --wait");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (std::string unknown = slipway::UnknownCommand(app, argc, argv); !unknown.empty()) {
      std::fprintf(stderr, "slipway: %s\nRun 'slipway --help' for usage.\n", unknown.c_str());
      return 2;
    }
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  const char* no_color_env = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  globals.color = !no_color && (no_color_env == nullptr || *no_color_env == '\0') &&
                  (term == nullptr || std::string(term) != "dumb") && ::isatty(STDOUT_FILENO) &&
                  globals.output == "table";
  globals.app = &app;
  globals.connect = [&flags] { return slipway::cli::Connect(flags); };
  for (auto& group : groups) {
    if (std::optional<int> code = group->Run(globals); code.has_value()) return *code;
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "slipway: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "slipway: unexpected error\n");
  }
  return 1;
}
