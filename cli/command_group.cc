#include "cli/command_group.h"

#include <cstdio>

#include "absl/strings/str_split.h"
#include "common/proto_yaml.h"

namespace slipway::cli {

CLI::App* SharedSubcommand(CLI::App& app, const std::string& name, const std::string& help) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == name) return sub;
  }
  CLI::App* sub = app.add_subcommand(name, help);
  sub->require_subcommand(1);
  return sub;
}

CLI::App* Example(CLI::App* cmd, std::initializer_list<const char*> lines) {
  std::string text = lines.size() == 1 ? "Example:" : "Examples:";
  for (const char* line : lines) text += std::string("\n  ") + line;
  cmd->footer(text);
  return cmd;
}

void Print(const google::protobuf::Message& m, const std::string& output) {
  std::fputs((output == "yaml" ? ToYaml(m) : ToJson(m) + "\n").c_str(), stdout);
}

bool SplitTarget(const std::string& target, std::string* pipeline, std::string* stage) {
  std::vector<std::string> parts = absl::StrSplit(target, '/');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) return false;
  *pipeline = parts[0];
  *stage = parts[1];
  return true;
}

int WithConnection(const Globals& globals, const std::function<int(const Connection&)>& fn) {
  auto conn = globals.connect();
  if (!conn.ok()) return Fail(std::string(conn.status().message()));
  return fn(*conn);
}

}  // namespace slipway::cli
