// What slipway and slipwayd derive from their own command definitions (CLI11 apps): man pages,
// shell completions, and the "did you mean" answer to a mistyped command. Generated from the
// definitions, so they cannot drift from `--help`.
#ifndef SLIPWAY_COMMON_CLI_DOCS_H_
#define SLIPWAY_COMMON_CLI_DOCS_H_

#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace slipway {

// Text the man page adds after the commands: environment, files, exit status.
struct ManExtras {
  std::string environment;  // "NAME\ttext" per line
  std::string files;        // "PATH\ttext" per line
  std::string exit_status;  // "CODE\ttext" per line
};

// A roff man page of `app` (named `name`, in `section`): its options, then every visible
// command with its options and its help footer (the example).
std::string ManPage(const CLI::App& app, const std::string& name, int section,
                    const ManExtras& extras);

// A completion script for `shell` ("bash", "zsh" or "fish") that completes every visible
// command and flag of `app`. Empty for another shell.
std::string CompletionScript(const CLI::App& app, const std::string& name,
                             const std::string& shell);

// The name in `names` nearest to `word` by edit distance, if it is within a third of the
// word's length (at least one edit), or else the one name `word` is a prefix of; empty
// otherwise.
std::string NearestName(std::string_view word, const std::vector<std::string>& names);

// When argv names a command `app` does not have, the message for it:
//   unknown command "bogus" for "slipway get" (did you mean "pipelines"?)
// Empty when every word that should be a command is one.
std::string UnknownCommand(const CLI::App& app, int argc, const char* const* argv);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_CLI_DOCS_H_
