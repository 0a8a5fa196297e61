// Git rules: does a SourceEvent match a stage's Git trigger? Branch and tag globs, path rules in
// .gitignore syntax over the files the event changed, skip flags in commit messages.
#ifndef SLIPWAY_TRIGGER_RULES_H_
#define SLIPWAY_TRIGGER_RULES_H_

#include <string>
#include <string_view>
#include <vector>

#include "slipway/v1/delivery.pb.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::trigger {

// True if `path` matches the .gitignore-style `pattern`: a pattern without '/' (other than a
// trailing one) matches the file name at any depth; a leading '/' anchors it at the root; a
// trailing '/' matches everything under that directory; `*`, `**` and `?` as in globs.
bool PathMatches(std::string_view pattern, std::string_view path);

// The skip flag in `message`, if any: "[skip ci]", "[ci skip]", "[skip slipway]",
// "[slipway skip]" (case-insensitive). Empty if none.
std::string SkipFlag(std::string_view message);

struct RuleResult {
  bool matched = false;
  // Why not (when !matched), or a skip reason (when matched but skipped): "branch \"x\" does
  // not match", "skip flag [skip ci]".
  std::string reason;
  bool skipped = false;
};

// Matches `event` against `trigger` (whose source was already matched to the event's
// repository). A push is skipped if any of its commits carries a skip flag.
RuleResult MatchGitTrigger(const v1::GitTrigger& trigger, const v1::SourceEvent& event);

}  // namespace slipway::trigger

#endif  // SLIPWAY_TRIGGER_RULES_H_
