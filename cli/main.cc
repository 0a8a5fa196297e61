// slipway: the command-line client of slipwayd. Human tables by default, `-o json` or
// `-o yaml` for scripts. Exit codes: 0 success, 1 an error from the server or in the input
// (the message is printed), 2 a usage error.
//
// main only sets up the global flags and dispatches: each command group (command_group.h)
// registers its own commands and flags, in its own file.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/command_group.h"
#include "cli/connection.h"

namespace {

int Main(int argc, char** argv) {
  CLI::App app{"slipway: the Slipway release controller's command-line client"};
  app.set_version_flag("--version", "slipway 0.1.0");
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

  std::vector<std::unique_ptr<slipway::cli::CommandGroup>> groups;
  groups.push_back(slipway::cli::PipelineCommands());
  groups.push_back(slipway::cli::TokenCommands());
  groups.push_back(slipway::cli::RunCommands());
  groups.push_back(slipway::cli::StageCommands());
  groups.push_back(slipway::cli::DeliveryCommands());
  groups.push_back(slipway::cli::PreviewCommands());
  for (auto& group : groups) group->Register(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
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
