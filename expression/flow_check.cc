#include "expression/flow_check.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "expression/expression.h"

namespace slipway::expression {
namespace {

struct RefInfo {
  v1::Step::KindCase kind;
  std::string field;  // where the node is, for messages
};

class Checker {
 public:
  explicit Checker(const FlowCheckInput& in) : in_(in) {}

  std::vector<std::string> Run() {
    if (in_.flow == nullptr) return {};
    CollectRefs(*in_.flow);
    const v1::Steps* root = in_.flow->has_sequential() ? &in_.flow->sequential()
                            : in_.flow->has_parallel() ? &in_.flow->parallel()
                                                       : nullptr;
    if (root != nullptr) {
      std::string list = in_.field + (in_.flow->has_sequential() ? ".sequential" : ".parallel");
      Group(*root, list, in_.flow->has_parallel(), {});
    }
    for (int i = 0; in_.resources != nullptr && i < in_.resources->size(); ++i) {
      Resource((*in_.resources)[i]);
    }
    return std::move(problems_);
  }

 private:
  void CollectRefs(const v1::Flow& flow) {
    const v1::Steps* root = flow.has_sequential() ? &flow.sequential()
                            : flow.has_parallel() ? &flow.parallel()
                                                  : nullptr;
    if (root != nullptr) {
      for (const auto& s : root->steps()) CollectRefs(s);
    }
  }
  void CollectRefs(const v1::Step& s) {
    if (!s.ref().empty()) all_refs_[s.ref()] = s.kind_case();
    if (s.has_sequential()) {
      for (const auto& c : s.sequential().steps()) CollectRefs(c);
    }
    if (s.has_parallel()) {
      for (const auto& c : s.parallel().steps()) CollectRefs(c);
    }
  }
  static void RefsInside(const v1::Step& s, std::set<std::string>& out) {
    if (!s.ref().empty() && !s.has_sequential() && !s.has_parallel()) out.insert(s.ref());
    if (s.has_sequential()) {
      for (const auto& c : s.sequential().steps()) RefsInside(c, out);
    }
    if (s.has_parallel()) {
      for (const auto& c : s.parallel().steps()) RefsInside(c, out);
    }
  }

  // `finished`: refs that are done before any step of this group starts.
  void Group(const v1::Steps& steps, const std::string& field, bool parallel,
             std::set<std::string> finished) {
    for (int i = 0; i < steps.steps_size(); ++i) {
      const v1::Step& s = steps.steps(i);
      std::string f = absl::StrCat(field, "[", i, "]");
      if (s.has_sequential() || s.has_parallel()) {
        Group(s.has_sequential() ? s.sequential() : s.parallel(),
              f + (s.has_sequential() ? ".sequential" : ".parallel"), s.has_parallel(), finished);
      } else {
        Node(s, f, finished);
      }
      if (!parallel) RefsInside(s, finished);
    }
  }

  void Expr(const std::string& field, const std::string& text,
            const std::set<std::string>* finished, bool artifact) {
    if (text.find("${") == std::string::npos) return;
    auto t = Template::Parse(text);
    if (!t.ok()) {
      problems_.push_back(absl::StrCat(field, ": ", t.status().message()));
      return;
    }
    absl::Status s =
        t->Check([&](const std::string& path) { return Resolve(path, finished, artifact); });
    if (!s.ok()) problems_.push_back(absl::StrCat(field, ": ", s.message()));
  }

  absl::Status Resolve(const std::string& path, const std::set<std::string>* finished,
                       bool artifact) {
    std::vector<std::string> parts = absl::StrSplit(path, '.');
    const std::string& root = parts[0];
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat("\"", path, "\": ", why));
    };
    if (root == "args") {
      if (parts.size() != 2) return bad("use args.<name>");
      if (!in_.any_args && !in_.args.contains(parts[1])) {
        std::vector<std::string> given;
        for (const auto& [k, v] : in_.args) given.push_back(k);
        if (in_.declared_args) {
          return bad(absl::StrCat("argument \"", parts[1], "\" is not declared in arguments ",
                                  "(declared: ", absl::StrJoin(given, ", "), ")"));
        }
        return bad(absl::StrCat("argument \"", parts[1], "\" was not given (given: ",
                                given.empty() ? "none" : absl::StrJoin(given, ", "), ")"));
      }
      return absl::OkStatus();
    }
    if (root == "trigger") {
      if (parts.size() != 2 || !TriggerFields().contains(parts[1])) {
        return bad(absl::StrCat("known trigger values: ", absl::StrJoin(TriggerFields(), ", ")));
      }
      return absl::OkStatus();
    }
    if (root == "stage" || root == "pipeline") {
      if (parts.size() != 2 || parts[1] != "name") return bad(absl::StrCat("use ", root, ".name"));
      return absl::OkStatus();
    }
    if (root == "preview") {
      if (!in_.preview) return bad("preview values exist only in preview blueprints");
      if (parts.size() != 2 || (parts[1] != "name" && parts[1] != "url")) {
        return bad("use preview.name or preview.url");
      }
      return absl::OkStatus();
    }
    if (root == "artifact") {
      if (!artifact) return bad("artifact values exist only in a resource's settings");
      bool ok = (parts.size() == 2 &&
                 (parts[1] == "image" || parts[1] == "sha" || parts[1] == "version")) ||
                (parts.size() == 3 && parts[1] == "config");
      return ok ? absl::OkStatus()
                : bad("use artifact.image, artifact.sha, artifact.version or "
                      "artifact.config.<key>");
    }
    if (root == "refs") {
      if (finished == nullptr) return bad("node outputs cannot be read here");
      if (parts.size() != 3) return bad("use refs.<node>.<field>");
      auto it = all_refs_.find(parts[1]);
      if (it == all_refs_.end()) return bad(absl::StrCat("there is no node \"", parts[1], "\""));
      if (!finished->contains(parts[1])) {
        return bad(absl::StrCat("node \"", parts[1],
                                "\" has not finished when this node runs (it is later or runs "
                                "in parallel)"));
      }
      const auto& fields = OutputFields(it->second);
      if (!fields.contains(parts[2])) {
        return bad(absl::StrCat("node \"", parts[1], "\" has no output \"", parts[2], "\" (",
                                fields.empty() ? "it has none" : absl::StrJoin(fields, ", "), ")"));
      }
      return absl::OkStatus();
    }
    return bad("unknown name (known: args, trigger, refs, stage, pipeline, preview, artifact)");
  }

  void Node(const v1::Step& s, const std::string& f, const std::set<std::string>& done) {
    Expr(f + ".skip_if", s.skip_if(), &done, false);
    switch (s.kind_case()) {
      case v1::Step::kDeploy: {
        const auto& a = s.deploy().artifact();
        Expr(f + ".deploy.artifact.image", a.image(), &done, false);
        Expr(f + ".deploy.artifact.sha", a.sha(), &done, false);
        Expr(f + ".deploy.artifact.version", a.version(), &done, false);
        for (const auto& [k, v] : a.config())
          Expr(absl::StrCat(f, ".deploy.artifact.config.", k), v, &done, false);
        break;
      }
      case v1::Step::kRunJob:
        for (int i = 0; i < s.run_job().args_size(); ++i) {
          Expr(absl::StrCat(f, ".run_job.args[", i, "]"), s.run_job().args(i), &done, false);
        }
        for (const auto& [k, v] : s.run_job().env())
          Expr(absl::StrCat(f, ".run_job.env.", k), v, &done, false);
        break;
      case v1::Step::kAwaitCondition:
        Expr(f + ".await_condition.http.url", s.await_condition().http().url(), &done, false);
        Expr(f + ".await_condition.http.path", s.await_condition().http().path(), &done, false);
        break;
      case v1::Step::kHttpRequest:
        Expr(f + ".http_request.url", s.http_request().url(), &done, false);
        Expr(f + ".http_request.body", s.http_request().body(), &done, false);
        for (const auto& [k, v] : s.http_request().headers()) {
          Expr(absl::StrCat(f, ".http_request.headers.", k), v, &done, false);
        }
        break;
      case v1::Step::kMessage:
        Expr(f + ".message.url", s.message().url(), &done, false);
        Expr(f + ".message.text", s.message().text(), &done, false);
        break;
      default:
        break;
    }
  }

  void Resource(const v1::Resource& r) {
    std::string f = in_.resources_field + "[" + r.name() + "]";
    for (int i = 0; i < r.process().command_size(); ++i) {
      Expr(absl::StrCat(f, ".process.command[", i, "]"), r.process().command(i), nullptr, true);
    }
    for (const auto& [k, v] : r.process().env())
      Expr(absl::StrCat(f, ".process.env.", k), v, nullptr, true);
    for (const auto& [k, v] : r.command().env())
      Expr(absl::StrCat(f, ".command.env.", k), v, nullptr, true);
    const auto& a = r.artifact();
    Expr(f + ".artifact.image", a.image(), nullptr, false);
    Expr(f + ".artifact.sha", a.sha(), nullptr, false);
    Expr(f + ".artifact.version", a.version(), nullptr, false);
    for (const auto& [k, v] : a.config())
      Expr(absl::StrCat(f, ".artifact.config.", k), v, nullptr, false);
  }

  const FlowCheckInput& in_;
  std::map<std::string, v1::Step::KindCase> all_refs_;
  std::vector<std::string> problems_;
};

}  // namespace

const std::set<std::string>& TriggerFields() {
  static const auto* fields = new std::set<std::string>{
      "branch", "sha", "tag", "pull_request", "event", "source", "actor", "delivery", "reason"};
  return *fields;
}

const std::set<std::string>& OutputFields(v1::Step::KindCase kind) {
  static const auto* deploy = new std::set<std::string>{"image", "sha", "version", "resource"};
  static const auto* job = new std::set<std::string>{"exit_code", "output"};
  static const auto* await = new std::set<std::string>{"attempts"};
  static const auto* approval = new std::set<std::string>{"approved_by"};
  static const auto* http = new std::set<std::string>{"status", "body"};
  static const auto* none = new std::set<std::string>{};
  switch (kind) {
    case v1::Step::kDeploy:
    case v1::Step::kPromote:
      return *deploy;
    case v1::Step::kRunJob:
      return *job;
    case v1::Step::kAwaitCondition:
      return *await;
    case v1::Step::kApproval:
      return *approval;
    case v1::Step::kHttpRequest:
    case v1::Step::kMessage:
      return *http;
    default:
      return *none;
  }
}

std::vector<std::string> CheckFlow(const FlowCheckInput& input) { return Checker(input).Run(); }

absl::Status CheckFlowStatus(const FlowCheckInput& input) {
  std::vector<std::string> problems = CheckFlow(input);
  if (problems.empty()) return absl::OkStatus();
  std::string msg = absl::StrCat("flow check failed: ", problems.front());
  if (problems.size() > 1) absl::StrAppend(&msg, " (and ", problems.size() - 1, " more)");
  return absl::InvalidArgumentError(msg);
}

}  // namespace slipway::expression
