// The expression language of string fields in flows: text with `${ … }` parts, each a path
// (`trigger.sha`, `args.version`, `refs.deploy-web.version`), a literal ('text', 42, true) or a
// function call (`slug(trigger.branch)`, `if(eq(stage.name, 'prod'), 'live', 'test')`).
// `$${` writes a literal `${`. Templates are compiled once, checked against what a node may
// read before the flow starts, and evaluated with the run's values; evaluation never runs a
// shell and never fails on a checked template.
#ifndef SLIPWAY_EXPRESSION_EXPRESSION_H_
#define SLIPWAY_EXPRESSION_EXPRESSION_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace slipway::expression {

enum class ExprType { kString, kInt, kBool };

// The longest text Template::Parse takes (an HTTP body template is the largest in practice).
inline constexpr size_t kMaxTemplateBytes = 64 << 10;

struct ExprNode;

// A parsed template. Cheap to copy (shares its parse tree).
class Template {
 public:
  // INVALID_ARGUMENT with the position and what was expected: `at 9: expected ')'`.
  static absl::StatusOr<Template> Parse(std::string_view text);

  // Checks every path with `resolve` (which returns OK if the path may be read here, or an
  // error saying why not) and every function's argument count and types. Returns the first
  // problem.
  absl::Status Check(const std::function<absl::Status(const std::string& path)>& resolve) const;

  // Every path the template reads, in order of appearance.
  std::vector<std::string> Paths() const;

  // True if the template has no `${…}` part.
  bool IsLiteral() const;

  // Evaluates with `values` (path → value). A path missing from `values` is FAILED_PRECONDITION
  // (it cannot happen after a successful Check with a matching resolver).
  absl::StatusOr<std::string> Evaluate(
      const absl::flat_hash_map<std::string, std::string>& values) const;

 private:
  struct Part {
    std::string text;                 // literal text, when expr is null
    std::shared_ptr<const ExprNode> expr;
  };
  std::vector<Part> parts_;
};

// DNS-label form of any text: lower case, runs of other characters turned into '-', trimmed,
// at most 63 characters. Empty input gives "x".
std::string Slug(std::string_view text);

}  // namespace slipway::expression

#endif  // SLIPWAY_EXPRESSION_EXPRESSION_H_
