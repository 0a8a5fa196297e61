// sleep: waits for its duration; nothing runs.
#include "absl/strings/str_cat.h"
#include "release/nodes/kinds.h"
#include "release/nodes/support.h"

namespace slipway::release {
namespace {

class SleepKind final : public NodeKind {
 public:
  bool idempotent() const override { return true; }
  NodeStart Start(const NodeContext& ctx) const override {
    const auto& sleep = ctx.step.sleep();
    return NodeStart::Wait(ctx.now + DurationOr(sleep.duration(), absl::ZeroDuration()),
                           absl::StrCat("sleeping ", FormatDuration(sleep.duration())));
  }
};

}  // namespace

const NodeKind* SleepNodeKind() {
  static const SleepKind kind;
  return &kind;
}

}  // namespace slipway::release
