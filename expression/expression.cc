#include "expression/expression.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/random.h"
#include "common/status_macros.h"

namespace slipway::expression {

struct ExprNode {
  enum Kind { kLiteral, kPath, kCall } kind;
  std::string text;  // literal value (as text), path, or function name
  ExprType literal_type = ExprType::kString;
  std::vector<std::shared_ptr<const ExprNode>> args;
  size_t position = 0;
};

namespace {

using Node = std::shared_ptr<const ExprNode>;

struct Value {
  ExprType type = ExprType::kString;
  std::string s;
  int64_t i = 0;
  bool b = false;

  std::string ToString() const {
    switch (type) {
      case ExprType::kString:
        return s;
      case ExprType::kInt:
        return absl::StrCat(i);
      case ExprType::kBool:
        return b ? "true" : "false";
    }
    return s;
  }
};

const char* TypeName(ExprType t) {
  switch (t) {
    case ExprType::kString:
      return "string";
    case ExprType::kInt:
      return "int";
    case ExprType::kBool:
      return "bool";
  }
  return "?";
}

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsPathChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// Calls nested deeper than this are refused: the parser, the checker and the evaluator recurse
// once per level, so a hostile pipeline must not choose the depth.
constexpr int kMaxCallDepth = 32;

class Parser {
 public:
  explicit Parser(std::string_view text, size_t offset) : text_(text), offset_(offset) {}

  absl::StatusOr<Node> ParseAll() {
    ASSIGN_OR_RETURN(Node n, ParseExpr());
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the expression");
    return n;
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("at ", offset_ + pos_ + 1, ": ", std::string(what)));
  }
  void SkipSpace() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }

  absl::StatusOr<Node> ParseExpr() {
    SkipSpace();
    if (pos_ >= text_.size()) return Error("expected an expression");
    auto node = std::make_shared<ExprNode>();
    node->position = offset_ + pos_;
    char c = text_[pos_];
    if (c == '\'' || c == '"') {
      char quote = c;
      ++pos_;
      std::string value;
      while (pos_ < text_.size() && text_[pos_] != quote) {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
        value.push_back(text_[pos_++]);
      }
      if (pos_ >= text_.size()) return Error("unterminated string");
      ++pos_;
      node->kind = ExprNode::kLiteral;
      node->text = std::move(value);
      return node;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-') {
      size_t start = pos_++;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      int64_t v;
      if (!absl::SimpleAtoi(std::string(text_.substr(start, pos_ - start)), &v)) {
        return Error("malformed number");
      }
      node->kind = ExprNode::kLiteral;
      node->literal_type = ExprType::kInt;
      node->text = absl::StrCat(v);
      return node;
    }
    if (!IsIdentStart(c)) return Error(absl::StrCat("unexpected '", std::string(1, c), "'"));
    size_t start = pos_;
    while (pos_ < text_.size() && (IsPathChar(text_[pos_]) || text_[pos_] == '.')) ++pos_;
    std::string word(text_.substr(start, pos_ - start));
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '(') {
      if (word.find('.') != std::string::npos) return Error("a function name has no '.'");
      if (depth_ >= kMaxCallDepth) {
        return Error(absl::StrCat("calls nested deeper than ", kMaxCallDepth, " levels"));
      }
      ++pos_;
      node->kind = ExprNode::kCall;
      node->text = word;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ')') {
        ++pos_;
        return node;
      }
      while (true) {
        ++depth_;
        absl::StatusOr<Node> parsed = ParseExpr();
        --depth_;
        if (!parsed.ok()) return parsed.status();
        Node arg = *std::move(parsed);
        node->args.push_back(std::move(arg));
        SkipSpace();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == ')') {
          ++pos_;
          return node;
        }
        return Error("expected ',' or ')'");
      }
    }
    if (word == "true" || word == "false") {
      node->kind = ExprNode::kLiteral;
      node->literal_type = ExprType::kBool;
      node->text = word;
      return node;
    }
    if (word.find('.') == std::string::npos || word.back() == '.' ||
        word.find("..") != std::string::npos) {
      return Error(absl::StrCat("\"", word, "\" is not a path like trigger.sha or a call"));
    }
    node->kind = ExprNode::kPath;
    node->text = word;
    return node;
  }

  int depth_ = 0;  // calls open around the expression being parsed
  std::string_view text_;
  size_t offset_;
  size_t pos_ = 0;
};

struct Function {
  int min_args;
  int max_args;  // -1: any
  // Argument types; the last one repeats. Empty: any types.
  std::vector<ExprType> params;
  ExprType result;
};

const absl::flat_hash_map<std::string, Function>& Functions() {
  using T = ExprType;
  static const auto* fns = new absl::flat_hash_map<std::string, Function>{
      {"slug", {1, 1, {T::kString}, T::kString}},
      {"lower", {1, 1, {T::kString}, T::kString}},
      {"upper", {1, 1, {T::kString}, T::kString}},
      {"trim", {1, 1, {T::kString}, T::kString}},
      {"sha256", {1, 1, {T::kString}, T::kString}},
      {"short_sha", {1, 1, {T::kString}, T::kString}},
      {"replace", {3, 3, {T::kString, T::kString, T::kString}, T::kString}},
      {"truncate", {2, 2, {T::kString, T::kInt}, T::kString}},
      {"concat", {1, -1, {}, T::kString}},
      {"default", {2, 2, {T::kString, T::kString}, T::kString}},
      {"if", {3, 3, {}, T::kString}},
      {"eq", {2, 2, {}, T::kBool}},
      {"ne", {2, 2, {}, T::kBool}},
      {"not", {1, 1, {T::kBool}, T::kBool}},
      {"and", {2, -1, {T::kBool}, T::kBool}},
      {"or", {2, -1, {T::kBool}, T::kBool}},
  };
  return *fns;
}

absl::StatusOr<ExprType> TypeOf(const ExprNode& n,
                                const std::function<absl::Status(const std::string&)>& resolve) {
  switch (n.kind) {
    case ExprNode::kLiteral:
      return n.literal_type;
    case ExprNode::kPath: {
      absl::Status s = resolve(n.text);
      if (!s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("at ", n.position + 1, ": ", s.message()));
      }
      return ExprType::kString;
    }
    case ExprNode::kCall:
      break;
  }
  auto it = Functions().find(n.text);
  if (it == Functions().end()) {
    std::vector<std::string> names;
    for (const auto& [name, f] : Functions()) names.push_back(name);
    std::sort(names.begin(), names.end());
    return absl::InvalidArgumentError(absl::StrCat("at ", n.position + 1, ": unknown function \"",
                                                   n.text, "\" (known: ",
                                                   absl::StrJoin(names, ", "), ")"));
  }
  const Function& f = it->second;
  int count = static_cast<int>(n.args.size());
  if (count < f.min_args || (f.max_args >= 0 && count > f.max_args)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "at ", n.position + 1, ": ", n.text, "() takes ",
        f.max_args == f.min_args ? absl::StrCat(f.min_args)
        : f.max_args < 0         ? absl::StrCat("at least ", f.min_args)
                                 : absl::StrCat(f.min_args, " to ", f.max_args),
        " argument", f.min_args == 1 && f.max_args == 1 ? "" : "s", ", not ", count));
  }
  std::vector<ExprType> types;
  for (int i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(ExprType t, TypeOf(*n.args[i], resolve));
    types.push_back(t);
    if (!f.params.empty()) {
      ExprType want = f.params[std::min<size_t>(i, f.params.size() - 1)];
      if (t != want) {
        return absl::InvalidArgumentError(absl::StrCat(
            "at ", n.args[i]->position + 1, ": argument ", i + 1, " of ", n.text, "() must be ",
            TypeName(want), ", not ", TypeName(t)));
      }
    }
  }
  if (n.text == "if") {
    if (types[0] != ExprType::kBool) {
      return absl::InvalidArgumentError(absl::StrCat(
          "at ", n.args[0]->position + 1, ": the condition of if() must be bool, not ",
          TypeName(types[0])));
    }
    return types[1] == types[2] ? types[1] : ExprType::kString;
  }
  return f.result;
}

absl::StatusOr<Value> Eval(const ExprNode& n,
                           const absl::flat_hash_map<std::string, std::string>& values) {
  Value v;
  switch (n.kind) {
    case ExprNode::kLiteral:
      v.type = n.literal_type;
      v.s = n.text;
      if (v.type == ExprType::kInt) (void)absl::SimpleAtoi(n.text, &v.i);
      v.b = n.text == "true";
      return v;
    case ExprNode::kPath: {
      auto it = values.find(n.text);
      if (it == values.end()) {
        return absl::FailedPreconditionError(absl::StrCat("no value for ", n.text));
      }
      v.s = it->second;
      return v;
    }
    case ExprNode::kCall:
      break;
  }
  // if() evaluates only the branch it takes.
  if (n.text == "if") {
    ASSIGN_OR_RETURN(Value cond, Eval(*n.args[0], values));
    return Eval(*n.args[cond.b ? 1 : 2], values);
  }
  std::vector<Value> a;
  for (const auto& arg : n.args) {
    ASSIGN_OR_RETURN(Value x, Eval(*arg, values));
    a.push_back(std::move(x));
  }
  const std::string& f = n.text;
  if (f == "slug") v.s = Slug(a[0].s);
  else if (f == "lower") v.s = absl::AsciiStrToLower(a[0].s);
  else if (f == "upper") v.s = absl::AsciiStrToUpper(a[0].s);
  else if (f == "trim") v.s = std::string(absl::StripAsciiWhitespace(a[0].s));
  else if (f == "sha256") v.s = Sha256Hex(a[0].s);
  else if (f == "short_sha") v.s = a[0].s.substr(0, 7);
  else if (f == "replace") v.s = a[1].s.empty() ? a[0].s : absl::StrReplaceAll(a[0].s, {{a[1].s, a[2].s}});
  else if (f == "truncate") v.s = a[0].s.substr(0, static_cast<size_t>(std::max<int64_t>(0, a[1].i)));
  else if (f == "default") v.s = a[0].s.empty() ? a[1].s : a[0].s;
  else if (f == "concat") {
    for (const auto& x : a) v.s += x.ToString();
  } else {
    v.type = ExprType::kBool;
    if (f == "eq") v.b = a[0].ToString() == a[1].ToString();
    else if (f == "ne") v.b = a[0].ToString() != a[1].ToString();
    else if (f == "not") v.b = !a[0].b;
    else if (f == "and") {
      v.b = true;
      for (const auto& x : a) v.b = v.b && x.b;
    } else if (f == "or") {
      for (const auto& x : a) v.b = v.b || x.b;
    } else {
      return absl::InternalError(absl::StrCat("function ", f, " has no implementation"));
    }
  }
  return v;
}

void CollectPaths(const ExprNode& n, std::vector<std::string>& out) {
  if (n.kind == ExprNode::kPath) out.push_back(n.text);
  for (const auto& a : n.args) CollectPaths(*a, out);
}

}  // namespace

std::string Slug(std::string_view text) {
  std::string out;
  bool dash = false;
  for (unsigned char c : text) {
    if (std::isalnum(c) && c < 0x80) {
      if (dash && !out.empty()) out.push_back('-');
      dash = false;
      out.push_back(static_cast<char>(std::tolower(c)));
    } else {
      dash = true;
    }
    if (out.size() >= 63) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "x" : out;
}

absl::StatusOr<Template> Template::Parse(std::string_view text) {
  if (text.size() > kMaxTemplateBytes) {
    return absl::InvalidArgumentError(absl::StrCat("a template of ", text.size(),
                                                   " bytes; at most ", kMaxTemplateBytes));
  }
  Template t;
  std::string literal;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      literal += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      literal.push_back(text[i++]);
      continue;
    }
    // Find the closing brace outside string literals.
    size_t j = i + 2;
    char quote = 0;
    while (j < text.size() && (quote != 0 || text[j] != '}')) {
      if (quote != 0 && text[j] == '\\') {
        ++j;
      } else if (quote != 0 && text[j] == quote) {
        quote = 0;
      } else if (quote == 0 && (text[j] == '\'' || text[j] == '"')) {
        quote = text[j];
      }
      ++j;
    }
    if (j >= text.size()) {
      return absl::InvalidArgumentError(absl::StrCat("at ", i + 1, ": unterminated \"${\""));
    }
    if (!literal.empty()) t.parts_.push_back({std::move(literal), nullptr});
    literal.clear();
    ASSIGN_OR_RETURN(Node node, Parser(text.substr(i + 2, j - i - 2), i + 2).ParseAll());
    t.parts_.push_back({"", std::move(node)});
    i = j + 1;
  }
  if (!literal.empty()) t.parts_.push_back({std::move(literal), nullptr});
  return t;
}

absl::Status Template::Check(
    const std::function<absl::Status(const std::string& path)>& resolve) const {
  for (const Part& p : parts_) {
    if (p.expr != nullptr) RETURN_IF_ERROR(TypeOf(*p.expr, resolve).status());
  }
  return absl::OkStatus();
}

std::vector<std::string> Template::Paths() const {
  std::vector<std::string> out;
  for (const Part& p : parts_) {
    if (p.expr != nullptr) CollectPaths(*p.expr, out);
  }
  return out;
}

bool Template::IsLiteral() const {
  for (const Part& p : parts_) {
    if (p.expr != nullptr) return false;
  }
  return true;
}

absl::StatusOr<std::string> Template::Evaluate(
    const absl::flat_hash_map<std::string, std::string>& values) const {
  std::string out;
  for (const Part& p : parts_) {
    if (p.expr == nullptr) {
      out += p.text;
    } else {
      ASSIGN_OR_RETURN(Value v, Eval(*p.expr, values));
      out += v.ToString();
    }
  }
  return out;
}

}  // namespace slipway::expression
