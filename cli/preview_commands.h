// The CLI's preview commands: previews, preview get|create|delete|extend|pause|resume.
#ifndef SLIPWAY_CLI_PREVIEW_COMMANDS_H_
#define SLIPWAY_CLI_PREVIEW_COMMANDS_H_

#include <string>
#include <vector>

#include "cli/connection.h"

namespace slipway::cli {

struct PreviewFlags {
  std::string pipeline, blueprint, branch, sha;
  std::vector<std::string> args;  // k=v
  bool skip_teardown = false;
  // Wait until the preview is READY (or DELETED, for delete), or failed.
  bool wait = false;
};

// Each returns the process exit code and prints to stdout/stderr.
int ListPreviews(const Connection& c, const std::string& pipeline, bool all,
                 const std::string& output);
// words: get NAME | create PIPELINE | delete NAME | extend NAME DURATION | pause NAME |
// resume NAME.
int PreviewCommand(const Connection& c, const std::vector<std::string>& words,
                   const PreviewFlags& flags, const std::string& output);

}  // namespace slipway::cli

#endif  // SLIPWAY_CLI_PREVIEW_COMMANDS_H_
