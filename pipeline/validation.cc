#include "pipeline/validation.h"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/byte_size.h"
#include "common/cron.h"
#include "common/glob.h"
#include "common/names.h"
#include "common/proto_time.h"
#include "expression/expression.h"
#include "expression/flow_check.h"
#include "google/rpc/error_details.pb.h"
#include "pipeline/container_validation.h"
#include "pipeline/field_checks.h"

namespace slipway::pipeline {
namespace {

// The path of a named list element: "stages[dev]". By position ("stages[2]") while it has no
// valid name, or the name repeats an earlier element's; that is then reported on its own.
template <typename T>
std::string Element(const std::string& list, const google::protobuf::RepeatedPtrField<T>& items,
                    int index) {
  const std::string& name = items[index].name();
  bool repeated = false;
  for (int j = 0; j < index && !repeated; ++j) repeated = items[j].name() == name;
  if (!repeated && CheckDnsLabel(name).ok()) return absl::StrCat(list, "[", name, "]");
  return absl::StrCat(list, "[", index, "]");
}

class Validator : public FieldChecks {
 public:
  std::vector<Problem> Run(const v1::Pipeline& p) {
    size_t bytes = p.ByteSizeLong();
    if (bytes > kMaxSpecBytes) {
      Add("", absl::StrCat("spec is ", bytes, " bytes; at most ", kMaxSpecBytes,
                           " (1 MiB) are allowed"));
      return std::move(problems_);
    }
    Name("name", p.name());
    if (p.description().size() > 4096) Add("description", "at most 4096 characters");

    std::set<std::string> names;
    for (int i = 0; i < p.sources_size(); ++i) {
      const auto& s = p.sources(i);
      std::string f = Element("sources", p.sources(), i);
      Name(f + ".name", s.name());
      Unique(names, f + ".name", s.name(), "source");
      if (s.provider() == v1::PROVIDER_UNSPECIFIED) {
        Add(f + ".provider", "required (github, gitlab, gitea or bitbucket)");
      }
      if (s.repository().empty()) {
        Add(f + ".repository", "required: the repository's full name, e.g. \"acme/shop\"");
      } else if (s.repository().find('/') == std::string::npos ||
                 absl::StartsWith(s.repository(), "/") || absl::EndsWith(s.repository(), "/")) {
        Add(f + ".repository",
            absl::StrCat("\"", s.repository(), "\" is not a full name like \"owner/name\""));
      }
      if (s.has_webhook_secret()) Secret(f + ".webhook_secret", s.webhook_secret());
      if (s.has_poll_interval()) {
        if (s.clone_url().empty()) Add(f + ".clone_url", "required to poll the repository");
        Duration(f + ".poll_interval", s.poll_interval(), absl::Hours(24));
        if (DurationFromProto(s.poll_interval()) < absl::Seconds(5)) {
          Add(f + ".poll_interval", "at least 5s");
        }
      }
      sources_.insert(s.name());
    }

    Arguments(p);

    if (p.stages_size() == 0) Add("stages", "a pipeline needs at least one stage");
    if (p.stages_size() > kMaxStages) {
      Add("stages", absl::StrCat(p.stages_size(), " stages; at most ", kMaxStages));
    }
    names.clear();
    for (int i = 0; i < p.stages_size(); ++i) {
      stage_index_[p.stages(i).name()] = i;
    }
    for (int i = 0; i < p.stages_size(); ++i) Stage(p, i, names);

    names.clear();
    for (int i = 0; i < p.preview_blueprints_size(); ++i) {
      Blueprint(Element("preview_blueprints", p.preview_blueprints(), i), p.preview_blueprints(i),
                names);
    }

    names.clear();
    for (int i = 0; i < p.webhook_triggers_size(); ++i) {
      const auto& w = p.webhook_triggers(i);
      std::string f = Element("webhook_triggers", p.webhook_triggers(), i);
      Name(f + ".name", w.name());
      Unique(names, f + ".name", w.name(), "webhook trigger");
      if (w.stage().empty()) {
        Add(f + ".stage", "required");
      } else if (!stage_index_.contains(w.stage())) {
        Add(f + ".stage", absl::StrCat("unknown stage \"", w.stage(), "\""));
      }
      if (w.has_hmac_secret()) Secret(f + ".hmac_secret", w.hmac_secret());
    }
    if (nodes_ > kMaxNodes) {
      Add("", absl::StrCat("the pipeline has ", nodes_, " flow nodes; at most ", kMaxNodes));
    }
    return std::move(problems_);
  }

 private:
  void Glob(const std::string& field, const std::string& pattern) {
    absl::Status s = CheckGlob(pattern);
    if (!s.ok()) Add(field, std::string(s.message()));
  }

  void Globs(const std::string& field, const google::protobuf::RepeatedPtrField<std::string>& g) {
    for (int i = 0; i < g.size(); ++i) Glob(absl::StrCat(field, "[", i, "]"), g[i]);
  }

  void Cron(const std::string& field, const std::string& expr) {
    if (expr.empty()) {
      Add(field, "required");
      return;
    }
    auto c = CronSchedule::Parse(expr);
    if (!c.ok()) Add(field, std::string(c.status().message()));
  }

  // The preview naming format, with the same parser and checker as flows: what it may read is
  // what a preview's name is made from.
  void NamingFormat(const std::string& field, const std::string& text) {
    auto t = expression::Template::Parse(text);
    if (!t.ok()) {
      Add(field, std::string(t.status().message()));
      return;
    }
    static const auto* known = new std::set<std::string>{
        "trigger.branch", "trigger.sha", "trigger.pull_request", "trigger.source", "pipeline.name"};
    absl::Status s = t->Check([](const std::string& path) -> absl::Status {
      if (known->contains(path) || absl::StartsWith(path, "args.")) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat("\"", path,
                       "\": a name may use trigger.branch, trigger.sha, trigger.pull_request, "
                       "trigger.source, pipeline.name and args.<name>"));
    });
    if (!s.ok()) Add(field, std::string(s.message()));
  }

  // Everything run start checks in a flow and its resources (every expression parses, calls
  // known functions with the right types and reads only what exists when it runs), with the
  // run's arguments not known yet.
  void FlowCheck(const std::string& field, const v1::Flow& flow,
                 const google::protobuf::RepeatedPtrField<v1::Resource>& resources,
                 const std::string& resources_field, bool preview) {
    expression::FlowCheckInput in;
    in.flow = &flow;
    in.resources = &resources;
    in.field = field;
    in.resources_field = resources_field;
    in.preview = preview;
    // A pipeline that declares arguments may read only those; one that declares none may read
    // any (run start checks them).
    in.any_args = no_arguments_;
    if (!in.any_args) {
      in.declared_args = true;
      for (const auto& [name, unused] : declared_) in.args[name] = "";
    }
    for (const std::string& problem : expression::CheckFlow(in)) {
      size_t colon = problem.find(": ");
      if (colon == std::string::npos) {
        Add(field, problem);
      } else {
        Add(problem.substr(0, colon), problem.substr(colon + 2));
      }
    }
  }

  void Resources(const std::string& base,
                 const google::protobuf::RepeatedPtrField<v1::Resource>& rs,
                 std::map<std::string, v1::ResourceKind>& out) {
    std::set<std::string> names;
    int routed = 0;
    for (int i = 0; i < rs.size(); ++i) {
      const auto& r = rs[i];
      std::string f = Element(base, rs, i);
      if (r.container().route() && ++routed > 1) {
        Add(f + ".container.route", "another resource is already routed; at most one is");
      }
      if (r.container().route() && r.container().ports_size() == 0) {
        Add(f + ".container.route", "needs a port to route to (ports is empty)");
      }
      Name(f + ".name", r.name());
      Unique(names, f + ".name", r.name(), "resource");
      v1::ResourceKind kind =
          r.kind() == v1::RESOURCE_KIND_UNSPECIFIED ? v1::RESOURCE_KIND_SERVICE : r.kind();
      out[r.name()] = kind;
      const auto& drivers = KnownDrivers();
      if (r.driver().empty()) {
        Add(f + ".driver",
            absl::StrCat("required (known drivers: ", absl::StrJoin(drivers, ", "), ")"));
      } else if (std::find(drivers.begin(), drivers.end(), r.driver()) == drivers.end()) {
        Add(f + ".driver", absl::StrCat("unknown driver \"", r.driver(),
                                        "\" (known drivers: ", absl::StrJoin(drivers, ", "), ")"));
      }
      if (r.driver() == "process") {
        if (r.process().command_size() == 0)
          Add(f + ".process.command", "required for driver \"process\"");
        if (r.has_command()) Add(f + ".command", "set, but the driver is \"process\"");
        Duration(f + ".process.health.interval", r.process().health().interval(), absl::Hours(1));
        Duration(f + ".process.health.timeout", r.process().health().timeout(), absl::Hours(1));
        if (!r.process().health().http_path().empty() &&
            !absl::StartsWith(r.process().health().http_path(), "/")) {
          Add(f + ".process.health.http_path", "must start with '/'");
        }
      } else if (r.driver() == "command") {
        if (r.command().apply_size() == 0)
          Add(f + ".command.apply", "required for driver \"command\"");
        if (r.has_process()) Add(f + ".process", "set, but the driver is \"command\"");
        Duration(f + ".command.timeout", r.command().timeout(), absl::Hours(24));
      } else if (r.driver() == "container") {
        if (r.has_process()) Add(f + ".process", "set, but the driver is \"container\"");
        if (r.has_command()) Add(f + ".command", "set, but the driver is \"container\"");
        CheckContainer(*this, f + ".container", r.container(), kind);
      }
      if (r.has_container() && r.driver() != "container" && !r.driver().empty()) {
        Add(f + ".container", absl::StrCat("set, but the driver is \"", r.driver(), "\""));
      }
    }
  }

  struct FlowContext {
    int stage_index = -1;  // -1 for preview blueprints
    const std::map<std::string, v1::ResourceKind>* resources;
    std::set<std::string> seen_refs;
  };

  void Flow(const std::string& f, const v1::Flow& flow, FlowContext& ctx, bool allow_empty) {
    const v1::Steps* root = flow.has_sequential() ? &flow.sequential()
                            : flow.has_parallel() ? &flow.parallel()
                                                  : nullptr;
    if (root == nullptr) {
      if (!allow_empty) Add(f, "required: a sequential or parallel list of steps");
      return;
    }
    std::string list = f + (flow.has_sequential() ? ".sequential" : ".parallel");
    if (root->steps_size() == 0 && !allow_empty) Add(list, "a workflow needs at least one step");
    for (int i = 0; i < root->steps_size(); ++i) {
      Step(absl::StrCat(list, "[", i, "]"), root->steps(i), ctx, 1);
    }
  }

  void ResourceRef(const std::string& field, const std::string& name, const FlowContext& ctx) {
    if (name.empty()) {
      Add(field, "required");
    } else if (!ctx.resources->contains(name)) {
      Add(field, absl::StrCat("unknown resource \"", name, "\""));
    }
  }

  void Step(const std::string& f, const v1::Step& s, FlowContext& ctx, int depth) {
    if (depth > kMaxNesting) {
      Add(f, absl::StrCat("workflows are nested more than ", kMaxNesting, " deep"));
      return;
    }
    bool group = s.has_sequential() || s.has_parallel();
    if (!group) ++nodes_;
    if (s.kind_case() == v1::Step::KIND_NOT_SET) {
      Add(f,
          "a step needs one node kind (deploy, promote, run_job, await_condition, approval, "
          "http_request, message, sleep) or a nested sequential/parallel list");
      return;
    }
    if (!s.ref().empty()) {
      Name(f + ".ref", s.ref());
      if (!ctx.seen_refs.insert(s.ref()).second) {
        Add(f + ".ref", absl::StrCat("duplicate ref \"", s.ref(), "\""));
      }
    } else if (!group) {
      Add(f + ".ref", "required: every node needs a ref");
    }
    Duration(f + ".timeout", s.timeout(), absl::Hours(24));
    if (s.has_retry()) {
      if (s.retry().max_attempts() < 0 || s.retry().max_attempts() > kMaxRetryAttempts) {
        Add(f + ".retry.max_attempts",
            absl::StrCat(s.retry().max_attempts(), " is outside 1-", kMaxRetryAttempts));
      }
      Duration(f + ".retry.backoff", s.retry().backoff(), absl::Hours(1));
    }
    switch (s.kind_case()) {
      case v1::Step::kDeploy:
        ResourceRef(f + ".deploy.resource", s.deploy().resource(), ctx);
        break;
      case v1::Step::kPromote: {
        ResourceRef(f + ".promote.resource", s.promote().resource(), ctx);
        const std::string& from = s.promote().from_stage();
        if (ctx.stage_index < 0) {
          Add(f + ".promote", "promote is only available in stage flows");
        } else if (from.empty()) {
          Add(f + ".promote.from_stage", "required");
        } else if (!stage_index_.contains(from)) {
          Add(f + ".promote.from_stage", absl::StrCat("unknown stage \"", from, "\""));
        } else if (stage_index_[from] >= ctx.stage_index) {
          Add(f + ".promote.from_stage",
              absl::StrCat("\"", from,
                           "\" is not an earlier stage; promote copies from a stage "
                           "that comes before this one"));
        } else {
          std::string res = s.promote().from_resource().empty() ? s.promote().resource()
                                                                : s.promote().from_resource();
          if (!stage_resources_[from].contains(res)) {
            Add(f + (s.promote().from_resource().empty() ? ".promote.resource"
                                                         : ".promote.from_resource"),
                absl::StrCat("stage \"", from, "\" has no resource \"", res, "\""));
          }
        }
        break;
      }
      case v1::Step::kRunJob: {
        ResourceRef(f + ".run_job.resource", s.run_job().resource(), ctx);
        auto it = ctx.resources->find(s.run_job().resource());
        if (it != ctx.resources->end() && it->second != v1::RESOURCE_KIND_JOB) {
          Add(f + ".run_job.resource",
              absl::StrCat("\"", s.run_job().resource(), "\" is a service, not a job"));
        }
        break;
      }
      case v1::Step::kAwaitCondition: {
        const auto& a = s.await_condition();
        Duration(f + ".await_condition.interval", a.interval(), absl::Hours(1));
        if (a.has_http()) {
          const auto& h = a.http();
          if (h.url().empty() == h.resource().empty()) {
            Add(f + ".await_condition.http", "set either resource (with path) or url");
          }
          if (!h.resource().empty())
            ResourceRef(f + ".await_condition.http.resource", h.resource(), ctx);
          for (int k = 0; k < h.expect_status_size(); ++k) {
            if (h.expect_status(k) < 100 || h.expect_status(k) > 599) {
              Add(absl::StrCat(f, ".await_condition.http.expect_status[", k, "]"),
                  "not an HTTP status");
            }
          }
        } else if (a.condition_case() == v1::AwaitConditionNode::kResourceHealthy) {
          ResourceRef(f + ".await_condition.resource_healthy", a.resource_healthy(), ctx);
        } else {
          Add(f + ".await_condition", "set http or resource_healthy");
        }
        break;
      }
      case v1::Step::kApproval:
        if (s.approval().approvals() < 0 || s.approval().approvals() > kMaxApprovals) {
          Add(f + ".approval.approvals",
              absl::StrCat(s.approval().approvals(), " is outside 1-", kMaxApprovals));
        }
        break;
      case v1::Step::kHttpRequest: {
        const auto& h = s.http_request();
        static const std::set<std::string> kMethods = {"", "GET", "POST", "PUT", "PATCH", "DELETE"};
        if (!kMethods.contains(h.method())) {
          Add(f + ".http_request.method",
              absl::StrCat("\"", h.method(), "\" is not GET, POST, PUT, PATCH or DELETE"));
        }
        if (h.url().empty()) Add(f + ".http_request.url", "required");
        if (h.has_signing_secret()) Secret(f + ".http_request.signing_secret", h.signing_secret());
        if (h.has_bearer_token()) Secret(f + ".http_request.bearer_token", h.bearer_token());
        break;
      }
      case v1::Step::kMessage:
        if (s.message().url().empty()) Add(f + ".message.url", "required");
        break;
      case v1::Step::kSleep:
        if (!s.sleep().has_duration()) Add(f + ".sleep.duration", "required");
        Duration(f + ".sleep.duration", s.sleep().duration(), absl::Hours(24));
        break;
      case v1::Step::kSequential:
      case v1::Step::kParallel: {
        const v1::Steps& g = s.has_sequential() ? s.sequential() : s.parallel();
        std::string list = f + (s.has_sequential() ? ".sequential" : ".parallel");
        if (g.steps_size() == 0) Add(list, "a workflow needs at least one step");
        for (int i = 0; i < g.steps_size(); ++i) {
          Step(absl::StrCat(list, "[", i, "]"), g.steps(i), ctx, depth + 1);
        }
        break;
      }
      case v1::Step::KIND_NOT_SET:
        break;
    }
  }

  // The declared arguments and this pipeline's overrides of them.
  void Arguments(const v1::Pipeline& p) {
    no_arguments_ = p.arguments_size() == 0;
    if (p.arguments_size() > kMaxArguments) {
      Add("arguments", absl::StrCat(p.arguments_size(), " arguments; at most ", kMaxArguments));
    }
    for (int i = 0; i < p.arguments_size(); ++i) {
      const v1::ArgumentSpec& a = p.arguments(i);
      std::string f = absl::StrCat("arguments[", i, "]");
      if (!IsArgumentName(a.name())) {
        Add(f + ".name", absl::StrCat("\"", a.name().substr(0, 64),
                                      "\" is not an argument name: a lower-case letter, then "
                                      "lower-case letters, digits, '_' or '-', at most 64"));
        continue;
      }
      f = absl::StrCat("arguments[", a.name(), "]");
      if (declared_.contains(a.name())) {
        Add(f + ".name", absl::StrCat("argument \"", a.name(), "\" is declared twice"));
        continue;
      }
      declared_[a.name()] = &a;
      if (a.description().size() > 4096) Add(f + ".description", "at most 4096 characters");
      if (a.default_().size() > kMaxArgumentBytes) {
        Add(f + ".default", absl::StrCat("at most ", kMaxArgumentBytes, " bytes"));
      } else if (!a.default_().empty()) {
        if (a.required()) Add(f + ".default", "a required argument has no default");
        if (a.secret()) {
          Add(f + ".default",
              "a secret argument has no default; give its value in secret_argument_overrides");
        }
        DefaultTemplate(f + ".default", a.default_());
      }
    }
    for (const auto& [key, value] : p.argument_overrides()) {
      std::string f = absl::StrCat("argument_overrides[", key, "]");
      auto it = declared_.find(key);
      if (it == declared_.end()) {
        Add(f, absl::StrCat("argument \"", key.substr(0, 64), "\" is not declared in arguments"));
      } else if (it->second->secret()) {
        Add(f, "a secret argument: put its value in secret_argument_overrides");
      }
      if (value.size() > kMaxArgumentBytes) {
        Add(f, absl::StrCat("at most ", kMaxArgumentBytes, " bytes"));
      }
    }
    for (const auto& [key, value] : p.secret_argument_overrides()) {
      std::string f = absl::StrCat("secret_argument_overrides[", key, "]");
      auto it = declared_.find(key);
      if (it == declared_.end()) {
        Add(f, absl::StrCat("argument \"", key.substr(0, 64), "\" is not declared in arguments"));
      } else if (!it->second->secret()) {
        Add(f, "not a secret argument: put its value in argument_overrides");
      }
      if (value.size() > kMaxArgumentBytes) {
        Add(f, absl::StrCat("at most ", kMaxArgumentBytes, " bytes"));
      }
      if (value.empty()) Add(f, "empty; remove the override or give a value");
    }
    for (const auto& [name, a] : declared_) {
      if (a->required() && !p.argument_overrides().contains(name) &&
          !p.secret_argument_overrides().contains(name)) {
        required_unset_.insert(name);
      }
    }
  }

  // A default may read what is known when a run starts, before its flow: the trigger, the
  // stage and the pipeline.
  void DefaultTemplate(const std::string& field, const std::string& text) {
    auto t = expression::Template::Parse(text);
    if (!t.ok()) {
      Add(field, std::string(t.status().message()));
      return;
    }
    absl::Status s = t->Check([](const std::string& path) -> absl::Status {
      if (absl::StartsWith(path, "trigger.") || path == "stage.name" || path == "pipeline.name") {
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", path, "\": a default may read trigger.<field>, stage.name and pipeline.name"));
    });
    if (!s.ok()) Add(field, std::string(s.message()));
  }

  // A trigger that starts runs must give every required argument the pipeline does not.
  void RequiredArguments(const std::string& field,
                         const google::protobuf::Map<std::string, std::string>& args) {
    for (const std::string& name : required_unset_) {
      if (!args.contains(name)) {
        Add(field, absl::StrCat("argument \"", name,
                                "\" is required and this trigger does not give it; give it "
                                "here or in argument_overrides"));
      }
    }
  }

  void Stage(const v1::Pipeline& p, int i, std::set<std::string>& names) {
    const auto& st = p.stages(i);
    std::string f = Element("stages", p.stages(), i);
    Name(f + ".name", st.name());
    Unique(names, f + ".name", st.name(), "stage");
    std::map<std::string, v1::ResourceKind>& resources = stage_resources_[st.name()];
    Resources(f + ".resources", st.resources(), resources);
    for (int t = 0; t < st.triggers_size(); ++t) {
      const auto& tr = st.triggers(t);
      std::string tf = absl::StrCat(f, ".triggers[", t, "]");
      if (tr.has_git()) {
        const auto& g = tr.git();
        if (g.source().empty()) {
          Add(tf + ".git.source", "required");
        } else if (!sources_.contains(g.source())) {
          Add(tf + ".git.source", absl::StrCat("unknown source \"", g.source(), "\""));
        }
        Globs(tf + ".git.branches", g.branches());
        Globs(tf + ".git.tags", g.tags());
        Globs(tf + ".git.paths.include", g.paths().include());
        Globs(tf + ".git.paths.ignore", g.paths().ignore());
        if (g.paths().include_size() > 0 && g.paths().ignore_size() > 0) {
          Add(tf + ".git.paths", "use include or ignore, not both");
        }
        if (g.actions_size() > 0 && std::find(g.events().begin(), g.events().end(),
                                              v1::GIT_EVENT_PULL_REQUEST) == g.events().end()) {
          Add(tf + ".git.actions", "only for pull_request events; add pull_request to events");
        }
        for (int a = 0; a < g.actions_size(); ++a) {
          if (g.actions(a) == v1::PULL_REQUEST_ACTION_UNSPECIFIED) {
            Add(absl::StrCat(tf, ".git.actions[", a, "]"), "must name an action");
          }
        }
        RequiredArguments(tf + ".git.args", g.args());
      } else if (tr.has_schedule()) {
        Cron(tf + ".schedule.cron", tr.schedule().cron());
        RequiredArguments(tf + ".schedule.args", tr.schedule().args());
      } else {
        Add(tf, "set git or schedule");
      }
    }
    const auto& prot = st.protection();
    if (prot.required_approvals() < 0 || prot.required_approvals() > kMaxApprovals) {
      Add(f + ".protection.required_approvals",
          absl::StrCat(prot.required_approvals(), " is outside 0-", kMaxApprovals));
    }
    for (int w = 0; w < prot.freeze_windows_size(); ++w) {
      std::string wf = absl::StrCat(f, ".protection.freeze_windows[", w, "]");
      Cron(wf + ".cron", prot.freeze_windows(w).cron());
      if (!prot.freeze_windows(w).has_duration()) Add(wf + ".duration", "required");
      Duration(wf + ".duration", prot.freeze_windows(w).duration(), absl::Hours(24 * 31));
    }
    if (st.retention().keep_releases() < 0) {
      Add(f + ".retention.keep_releases", "must not be negative");
    } else if (st.retention().keep_releases() == 1) {
      Add(f + ".retention.keep_releases",
          "must be 0 (keep all) or at least 2: the current and the previous release are kept");
    }
    Duration(f + ".retention.keep_run_logs", st.retention().keep_run_logs(),
             absl::Hours(24 * 365 * 10));
    FlowContext ctx{i, &resources, {}};
    Flow(f + ".flow", st.flow(), ctx, /*allow_empty=*/false);
    FlowCheck(f + ".flow", st.flow(), st.resources(), f + ".resources", /*preview=*/false);
  }

  void Blueprint(const std::string& f, const v1::PreviewBlueprint& b,
                 std::set<std::string>& names) {
    Name(f + ".name", b.name());
    Unique(names, f + ".name", b.name(), "preview blueprint");
    if (b.triggers_size() == 0) Add(f + ".triggers", "a blueprint needs at least one trigger");
    for (int t = 0; t < b.triggers_size(); ++t) {
      const auto& tr = b.triggers(t);
      std::string tf = absl::StrCat(f, ".triggers[", t, "]");
      const std::string* source = nullptr;
      if (tr.has_pull_request()) {
        source = &tr.pull_request().source();
        Globs(tf + ".pull_request.branches", tr.pull_request().branches());
        tf += ".pull_request";
      } else if (tr.has_push()) {
        source = &tr.push().source();
        Globs(tf + ".push.branches", tr.push().branches());
        tf += ".push";
      } else {
        Add(tf, "set pull_request or push");
        continue;
      }
      if (source->empty()) {
        Add(tf + ".source", "required");
      } else if (!sources_.contains(*source)) {
        Add(tf + ".source", absl::StrCat("unknown source \"", *source, "\""));
      }
    }
    const auto& n = b.naming();
    if (n.rule_case() == v1::PreviewNaming::kFormat) {
      if (n.format().empty()) Add(f + ".naming.format", "must not be empty");
      NamingFormat(f + ".naming.format", n.format());
    }
    for (const std::string* prefix : {&n.pr_number().prefix(), &n.branch().prefix()}) {
      for (char c : *prefix) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
          Add(f + ".naming",
              absl::StrCat("prefix \"", *prefix, "\" may only use a-z, 0-9 and '-'"));
          break;
        }
      }
      if (prefix->size() > 20) Add(f + ".naming", "prefix is longer than 20 characters");
    }
    Duration(f + ".lifetime.ttl", b.lifetime().ttl(), absl::Hours(24 * 365));
    if (b.budget().max_active() < 0) Add(f + ".budget.max_active", "must not be negative");
    std::map<std::string, v1::ResourceKind> resources;
    Resources(f + ".resources", b.resources(), resources);
    if (b.resources_size() == 0) Add(f + ".resources", "a blueprint needs at least one resource");
    FlowContext ctx{-1, &resources, {}};
    Flow(f + ".flow", b.flow(), ctx, /*allow_empty=*/true);
    FlowContext teardown_ctx{-1, &resources, {}};
    Flow(f + ".teardown.flow", b.teardown().flow(), teardown_ctx, /*allow_empty=*/true);
    FlowCheck(f + ".flow", b.flow(), b.resources(), f + ".resources", /*preview=*/true);
    // The resources were checked with the flow above.
    static const auto* no_resources = new google::protobuf::RepeatedPtrField<v1::Resource>();
    FlowCheck(f + ".teardown.flow", b.teardown().flow(), *no_resources, f + ".resources",
              /*preview=*/true);
  }

  std::set<std::string> sources_;
  std::map<std::string, int> stage_index_;
  std::map<std::string, std::map<std::string, v1::ResourceKind>> stage_resources_;
  int nodes_ = 0;
  bool no_arguments_ = true;
  std::map<std::string, const v1::ArgumentSpec*> declared_;
  // Required arguments the pipeline's overrides do not give.
  std::set<std::string> required_unset_;
};

}  // namespace

const std::vector<std::string>& KnownDrivers() {
  static const auto* drivers = new std::vector<std::string>{"process", "command", "container"};
  return *drivers;
}

bool IsArgumentName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

std::vector<Problem> Validate(const v1::Pipeline& pipeline) { return Validator().Run(pipeline); }

absl::Status ProblemsToStatus(const std::vector<Problem>& problems) {
  if (problems.empty()) return absl::OkStatus();
  auto line = [](const Problem& p) {
    return p.field.empty() ? p.message : absl::StrCat(p.field, ": ", p.message);
  };
  // Every problem also as a google.rpc.BadRequest, which the gRPC edge sends as error details.
  google::rpc::BadRequest details;
  for (const Problem& p : problems) {
    auto* v = details.add_field_violations();
    v->set_field(p.field);
    v->set_description(p.message);
  }
  auto with_details = [&](absl::Status s) {
    s.SetPayload(std::string(kBadRequestTypeUrl), absl::Cord(details.SerializeAsString()));
    return s;
  };
  if (problems.size() == 1) return with_details(absl::InvalidArgumentError(line(problems.front())));
  // Every problem, one per line, so that one apply shows all there is to fix.
  constexpr size_t kMaxListed = 50;
  std::string msg = absl::StrCat(problems.size(), " problems:");
  for (size_t i = 0; i < problems.size() && i < kMaxListed; ++i) {
    absl::StrAppend(&msg, "\n  ", line(problems[i]));
  }
  if (problems.size() > kMaxListed) {
    absl::StrAppend(&msg, "\n  … and ", problems.size() - kMaxListed,
                    " more (ValidatePipeline lists them all)");
  }
  return with_details(absl::InvalidArgumentError(msg));
}

}  // namespace slipway::pipeline
