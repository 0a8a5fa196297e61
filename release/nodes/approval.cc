// approval: waits until enough people approve (Executor::Approve) or one rejects.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "release/nodes/kinds.h"

namespace slipway::release {
namespace {

class ApprovalKind final : public NodeKind {
 public:
  bool idempotent() const override { return true; }
  NodeStart Start(const NodeContext& ctx) const override {
    return NodeStart::AwaitApproval(
        absl::StrCat("waiting for ", std::max(1, ctx.step.approval().approvals()), " approval(s)"));
  }
};

}  // namespace

const NodeKind* ApprovalNodeKind() {
  static const ApprovalKind kind;
  return &kind;
}

}  // namespace slipway::release
