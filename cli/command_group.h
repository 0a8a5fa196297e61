// A group of the CLI's commands (pipelines, tokens, runs, stages, deliveries, previews), one
// file each. A group adds its subcommands, each with its own flags, to the app; after parsing,
// main asks each group in turn whether one of its commands was chosen and lets it run.
#ifndef SLIPWAY_CLI_COMMAND_GROUP_H_
#define SLIPWAY_CLI_COMMAND_GROUP_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/connection.h"
#include "google/protobuf/message.h"
#include "slipway/v1/pipeline_service.pb.h"
#include "slipway/v1/release_service.pb.h"

namespace slipway::cli {

// What every command gets: the output format and a way to connect (commands that check a file
// first connect only when it is good).
struct Globals {
  std::string output = "table";  // table, json or yaml
  // Colours in tables: off with --no-color, NO_COLOR, TERM=dumb, or when stdout is no terminal.
  bool color = false;
  const CLI::App* app = nullptr;  // the whole command tree (completion, man page)
  std::function<absl::StatusOr<Connection>()> connect;
};

class CommandGroup {
 public:
  virtual ~CommandGroup() = default;
  // Adds the group's commands and their flags to `app`.
  virtual void Register(CLI::App& app) = 0;
  // The exit code of the group's command that was parsed; nullopt if none was.
  virtual std::optional<int> Run(const Globals& globals) = 0;
};

// The help of `get`, which several groups add to.
inline constexpr const char* kGetHelp =
    "List or show resources: pipelines, pipeline, stages, stage, runs, releases, previews, "
    "deliveries, tokens, replicas";

// The subcommand `name` of `app` (e.g. "get", shared by several groups), added if missing.
CLI::App* SharedSubcommand(CLI::App& app, const std::string& name, const std::string& help);

// Sets `cmd`'s help footer to its examples, one command line per entry. Returns `cmd`.
CLI::App* Example(CLI::App* cmd, std::initializer_list<const char*> lines);

// A message in the protobuf JSON mapping or YAML on stdout.
void Print(const google::protobuf::Message& m, const std::string& output);
// Splits PIPELINE/STAGE; false if `target` is not that.
bool SplitTarget(const std::string& target, std::string* pipeline, std::string* stage);

// Shows a run's progress (or, with logs_only, its log lines, of `node` if set) until it ends
// when `follow`; exit 0 only if it succeeded. In run_commands.cc; rollback uses it too.
int WatchRun(const Connection& c, const std::string& run_id, bool logs_only,
             const std::string& node, bool follow, const Globals& globals);

// Streams a deployed resource's output to stdout (preview logs, stage logs). In
// preview_commands.cc.
int StreamResourceLogs(const Connection& c, const v1::WatchResourceLogsRequest& req);

// `slipway diff pipeline NAME FROM TO`: what changed between two pipeline revisions. In
// pipeline_commands.cc; the diff command (stage_commands.cc) hands it on.
int DiffPipeline(const Connection& c, const std::string& name, int64_t from, int64_t to,
                 const std::string& output);

// The "GitOps:" lines of `slipway get pipeline` and `slipway gitops status`. In
// pipeline_commands.cc.
void PrintGitOps(const v1::GitOpsBinding& binding);

// Connects, runs `fn` with the connection, and returns its exit code (1 if connecting fails).
int WithConnection(const Globals& globals, const std::function<int(const Connection&)>& fn);

std::unique_ptr<CommandGroup> PipelineCommands();  // pipeline_commands.cc
std::unique_ptr<CommandGroup> TokenCommands();     // token_commands.cc
std::unique_ptr<CommandGroup> RunCommands();       // run_commands.cc
std::unique_ptr<CommandGroup> StageCommands();     // stage_commands.cc
std::unique_ptr<CommandGroup> DeliveryCommands();  // delivery_commands.cc
std::unique_ptr<CommandGroup> PreviewCommands();   // preview_commands.cc
std::unique_ptr<CommandGroup> AuditCommands();     // audit_commands.cc
std::unique_ptr<CommandGroup> GitOpsCommands();    // gitops_commands.cc
std::unique_ptr<CommandGroup> ReplicaCommands();   // replica_commands.cc
// version, completion, and the hidden man (writes slipway.1).
std::unique_ptr<CommandGroup> DocsCommands();  // docs_commands.cc

}  // namespace slipway::cli

#endif  // SLIPWAY_CLI_COMMAND_GROUP_H_
