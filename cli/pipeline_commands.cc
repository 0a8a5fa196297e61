// The pipeline commands: apply, update, validate, get pipelines, get pipeline, delete pipeline.
// Files are read and checked locally before any call, so a typo never reaches the server.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command_group.h"
#include "common/proto_time.h"
#include "common/proto_yaml.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"

namespace slipway::cli {
namespace {

bool ReadSpec(const std::string& path, v1::Pipeline* pipeline, std::string* error,
              FieldLines* lines) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(path);
    if (!in) {
      *error = path + ": cannot read the file";
      return false;
    }
    ss << in.rdbuf();
  }
  absl::Status s = slipway::ParseYaml(ss.str(), pipeline, lines);
  if (!s.ok()) {
    *error = path + ": " + std::string(s.message());
    return false;
  }
  return true;
}

void PrintPipelineSummary(const v1::Pipeline& p) {
  std::printf("Name:         %s\n", p.name().c_str());
  if (!p.description().empty()) std::printf("Description:  %s\n", p.description().c_str());
  std::printf("Revision:     %lld\n", static_cast<long long>(p.revision()));
  std::printf("Etag:         %s\n", p.etag().c_str());
  std::printf("Created:      %s\n", FormatTimestamp(p.create_time()).c_str());
  std::printf("Updated:      %s\n", FormatTimestamp(p.update_time()).c_str());
  if (p.sources_size() > 0) {
    std::printf("Sources:\n");
    for (const auto& s : p.sources()) {
      std::printf("  %-14s %-10s %s\n", s.name().c_str(),
                  slipway::EnumShortName(v1::Provider_descriptor()->FindValueByNumber(s.provider()))
                      .c_str(),
                  s.repository().c_str());
    }
  }
  std::printf("Stages:\n");
  std::printf("  %-3s %-16s %-10s %-40s %s\n", "#", "NAME", "CONCURRENCY", "RESOURCES", "TRIGGERS");
  for (int i = 0; i < p.stages_size(); ++i) {
    const auto& st = p.stages(i);
    std::vector<std::string> resources;
    for (const auto& r : st.resources()) resources.push_back(r.name() + "(" + r.driver() + ")");
    std::string concurrency =
        st.concurrency() == v1::CONCURRENCY_POLICY_UNSPECIFIED
            ? "queue"
            : slipway::EnumShortName(
                  v1::ConcurrencyPolicy_descriptor()->FindValueByNumber(st.concurrency()));
    std::printf("  %-3d %-16s %-11s %-40s %d\n", i + 1, st.name().c_str(), concurrency.c_str(),
                absl::StrJoin(resources, ",").c_str(), st.triggers_size());
  }
  if (p.preview_blueprints_size() > 0) {
    std::vector<std::string> names;
    for (const auto& b : p.preview_blueprints()) names.push_back(b.name());
    std::printf("Previews:     %s\n", absl::StrJoin(names, ", ").c_str());
  }
  if (p.arguments_size() > 0) {
    std::printf("Arguments:\n");
    for (const auto& a : p.arguments()) {
      std::string value;
      if (auto o = p.argument_overrides().find(a.name()); o != p.argument_overrides().end()) {
        value = "= " + o->second + " (override)";
      } else if (p.secret_argument_overrides().contains(a.name())) {
        value = "= *** (secret override)";
      } else if (!a.default_().empty()) {
        value = "default " + a.default_();
      } else if (a.required()) {
        value = "required";
      }
      std::printf("  %-16s %-7s %s%s%s\n", a.name().c_str(), a.secret() ? "secret" : "",
                  value.c_str(), a.description().empty() ? "" : "  # ", a.description().c_str());
    }
  }
  if (p.webhook_triggers_size() > 0) {
    std::vector<std::string> names;
    for (const auto& w : p.webhook_triggers()) names.push_back(w.name() + "->" + w.stage());
    std::printf("Webhooks:     %s\n", absl::StrJoin(names, ", ").c_str());
  }
}

}  // namespace

void PrintGitOps(const v1::GitOpsBinding& b) {
  std::printf("GitOps:       %s\n", b.status().c_str());
  std::printf("  file        %s@%s:%s\n", b.source().c_str(), b.branch().c_str(), b.path().c_str());
  if (!b.synced_sha().empty()) std::printf("  last good   %s\n", b.synced_sha().c_str());
  for (const auto& e : b.errors()) std::printf("  error       %s\n", e.c_str());
}

namespace {

// "  path: before -> after", one line per changed field.
void PrintChanges(const google::protobuf::RepeatedPtrField<v1::FieldChange>& changes) {
  for (const auto& c : changes) {
    if (c.before().empty()) {
      std::printf("  + %s: %s\n", c.path().c_str(), c.after().c_str());
    } else if (c.after().empty()) {
      std::printf("  - %s: %s\n", c.path().c_str(), c.before().c_str());
    } else {
      std::printf("  ~ %s: %s -> %s\n", c.path().c_str(), c.before().c_str(), c.after().c_str());
    }
  }
}

const char* SourceName(v1::RevisionSource s) {
  switch (s) {
    case v1::REVISION_SOURCE_CLI:
      return "cli";
    case v1::REVISION_SOURCE_DASHBOARD:
      return "dashboard";
    case v1::REVISION_SOURCE_API:
      return "api";
    case v1::REVISION_SOURCE_GIT:
      return "git";
    default:
      return "-";
  }
}

class PipelineGroup final : public CommandGroup {
 public:
  void Register(CLI::App& app) override {
    apply_ = app.add_subcommand("apply", "Create or update a pipeline from a file");
    apply_->add_option("-f,--file", file_, "Pipeline YAML or JSON file ('-' for stdin)")
        ->required();
    apply_->add_option("--request-id", request_id_,
                       "Idempotency key: a retry returns the first result");
    apply_->add_flag("--dry-run", dry_run_,
                     "Show what would change against the stored pipeline; write nothing");
    apply_->add_option("--message", message_, "Recorded with the revision (at most 1000 bytes)");
    apply_->add_option("--name", instance_,
                       "Apply the file as the pipeline of this name (one spec, many pipelines)");
    apply_->add_option("--override", overrides_,
                       "NAME=VALUE: this pipeline's value of a declared argument (repeatable; a "
                       "secret argument's value is write-only)");
    Example(apply_, {"slipway apply -f pipeline.yaml", "slipway apply -f - < pipeline.yaml",
                     "slipway apply -f pipeline.yaml --dry-run",
                     "slipway apply -f shop.yaml --name shop-eu --override region=eu"});
    update_ = app.add_subcommand(
        "update",
        "Replace a pipeline from a file that carries its etag (from get -o yaml); "
        "fails if the pipeline changed since");
    update_->add_option("-f,--file", file_, "Pipeline YAML or JSON file ('-' for stdin)")
        ->required();
    update_->add_option("--request-id", request_id_, "Idempotency key");
    update_->add_option("--message", message_, "Recorded with the revision");
    Example(update_, {"slipway get pipeline shop -o yaml > shop.yaml && $EDITOR shop.yaml && "
                      "slipway update -f shop.yaml"});
    validate_ = app.add_subcommand("validate", "Check a pipeline file without writing anything");
    validate_->add_option("-f,--file", file_, "Pipeline YAML or JSON file ('-' for stdin)")
        ->required();
    Example(validate_, {"slipway validate -f pipeline.yaml"});
    CLI::App* get = SharedSubcommand(app, "get", kGetHelp);
    list_ = get->add_subcommand("pipelines", "List pipelines");
    list_->add_option("--prefix", prefix_, "Only names starting with this");
    Example(list_, {"slipway get pipelines", "slipway get pipelines --prefix shop -o json"});
    get_ = get->add_subcommand("pipeline", "Show one pipeline");
    get_->add_option("name", name_, "Pipeline name")->required();
    Example(get_, {"slipway get pipeline shop -o yaml"});
    CLI::App* history = SharedSubcommand(app, "history", "Show the revisions of a resource");
    Example(history, {"slipway history pipeline shop"});
    history_ = history->add_subcommand("pipeline", "A pipeline's revisions, newest first");
    history_->add_option("name", name_, "Pipeline name")->required();
    Example(history_, {"slipway history pipeline shop", "slipway history pipeline shop -o json"});
    CLI::App* del = SharedSubcommand(app, "delete", "Delete a pipeline");
    delete_ = del->add_subcommand("pipeline", "Delete a pipeline");
    delete_->add_option("name", name_, "Pipeline name")->required();
    delete_->add_option("--etag", etag_, "Only if the pipeline is still at this etag");
    delete_->add_option("--request-id", request_id_, "Idempotency key");
    Example(delete_, {"slipway delete pipeline shop"});
  }

  std::optional<int> Run(const Globals& g) override {
    if (!apply_->parsed() && !update_->parsed() && !validate_->parsed() && !list_->parsed() &&
        !get_->parsed() && !delete_->parsed() && !history_->parsed()) {
      return std::nullopt;
    }
    if (apply_->parsed() || validate_->parsed() || update_->parsed()) {
      std::string error;
      if (!ReadSpec(file_, &spec_, &error, &lines_)) return Fail(error);
    }
    if (apply_->parsed()) {
      if (!instance_.empty()) spec_.set_name(instance_);
      for (const std::string& kv : overrides_) {
        const size_t eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
          return UsageFail("--override " + kv + ": use NAME=VALUE");
        }
        const std::string key = kv.substr(0, eq);
        const v1::ArgumentSpec* declared = nullptr;
        for (const auto& a : spec_.arguments()) {
          if (a.name() == key) declared = &a;
        }
        if (declared == nullptr) {
          return UsageFail("--override " + key + ": " + file_ +
                           " declares no such argument (see its `arguments`)");
        }
        if (declared->secret()) {
          (*spec_.mutable_secret_argument_overrides())[key] = kv.substr(eq + 1);
        } else {
          (*spec_.mutable_argument_overrides())[key] = kv.substr(eq + 1);
        }
      }
    }
    return WithConnection(g, [&](const Connection& c) { return Call(g, c); });
  }

 private:
  int Call(const Globals& g, const Connection& c) {
    auto stub = v1::PipelineService::NewStub(c.channel);
    if (apply_->parsed()) {
      v1::ApplyPipelineRequest req;
      *req.mutable_pipeline() = spec_;
      req.set_request_id(request_id_);
      req.set_message(message_);
      req.set_dry_run(dry_run_);
      v1::ApplyPipelineResponse resp;
      grpc::Status s = stub->ApplyPipeline(c.NewContext().get(), req, &resp);
      if (!s.ok()) return RpcFail(s, c);
      if (g.output != "table") {
        Print(resp, g.output);
        return 0;
      }
      if (dry_run_) {
        const char* would =
            resp.result() == v1::ApplyPipelineResponse::RESULT_CREATED   ? "would be created"
            : resp.result() == v1::ApplyPipelineResponse::RESULT_UPDATED ? "would be updated"
                                                                         : "is unchanged";
        std::printf("pipeline/%s %s (dry run, nothing written)%s\n", resp.pipeline().name().c_str(),
                    would, resp.changes_size() > 0 ? ":" : "");
        PrintChanges(resp.changes());
        return 0;
      }
      const char* what = resp.result() == v1::ApplyPipelineResponse::RESULT_CREATED   ? "created"
                         : resp.result() == v1::ApplyPipelineResponse::RESULT_UPDATED ? "updated"
                                                                                      : "unchanged";
      std::printf("pipeline/%s %s (revision %lld)", resp.pipeline().name().c_str(), what,
                  static_cast<long long>(resp.pipeline().revision()));
      if (resp.changed_size() > 0) {
        std::printf(": %s", absl::StrJoin(resp.changed(), ", ").c_str());
      }
      std::printf("\n");
      for (const auto& [name, url] : resp.pipeline().new_webhook_urls()) {
        std::printf(
            "webhook trigger %s: POST http://<slipwayd-http>%s (shown once; keep it secret)\n",
            name.c_str(), url.c_str());
      }
      return 0;
    }

    if (update_->parsed()) {
      v1::UpdatePipelineRequest req;
      *req.mutable_pipeline() = spec_;
      req.set_request_id(request_id_);
      req.set_message(message_);
      v1::Pipeline resp;
      grpc::Status s = stub->UpdatePipeline(c.NewContext().get(), req, &resp);
      if (!s.ok()) return RpcFail(s, c);
      if (g.output != "table") {
        Print(resp, g.output);
      } else {
        std::printf("pipeline/%s updated (revision %lld, etag_ %s)\n", resp.name().c_str(),
                    static_cast<long long>(resp.revision()), resp.etag().c_str());
      }
      return 0;
    }

    if (validate_->parsed()) {
      v1::ValidatePipelineRequest req;
      *req.mutable_pipeline() = spec_;
      v1::ValidatePipelineResponse resp;
      grpc::Status s = stub->ValidatePipeline(c.NewContext().get(), req, &resp);
      if (!s.ok()) return RpcFail(s, c);
      if (g.output != "table") {
        Print(resp, g.output);
      } else if (resp.valid()) {
        std::printf("%s: valid\n", file_.c_str());
      } else {
        // file:line: field: message, the line of the field or of the nearest one around it.
        for (const auto& p : resp.problems()) {
          const int line = lines_.LineOf(p.field());
          const std::string where = line > 0 ? absl::StrCat(file_, ":", line) : file_;
          std::fprintf(stderr, "%s: %s%s%s\n", where.c_str(), p.field().c_str(),
                       p.field().empty() ? "" : ": ", p.message().c_str());
        }
        std::fprintf(stderr, "%d problem%s\n", resp.problems_size(),
                     resp.problems_size() == 1 ? "" : "s");
      }
      return resp.valid() ? 0 : 1;
    }

    if (list_->parsed()) {
      v1::ListPipelinesResponse all_pages;
      v1::ListPipelinesRequest req;
      req.set_name_prefix(prefix_);
      req.set_page_size(100);
      do {
        v1::ListPipelinesResponse resp;
        grpc::Status s = stub->ListPipelines(c.NewContext().get(), req, &resp);
        if (!s.ok()) return RpcFail(s, c);
        for (auto& p : *resp.mutable_pipelines()) *all_pages.add_pipelines() = std::move(p);
        req.set_page_token(resp.next_page_token());
      } while (!req.page_token().empty());
      if (g.output != "table") {
        Print(all_pages, g.output);
        return 0;
      }
      std::printf("%-24s %-7s %-9s %-25s %s\n", "NAME", "STAGES", "REVISION", "UPDATED",
                  "DESCRIPTION");
      for (const auto& p : all_pages.pipelines()) {
        std::printf("%-24s %-7d %-9lld %-25s %s\n", p.name().c_str(), p.stages_size(),
                    static_cast<long long>(p.revision()), FormatTimestamp(p.update_time()).c_str(),
                    p.description().c_str());
      }
      return 0;
    }

    if (get_->parsed()) {
      v1::GetPipelineRequest req;
      req.set_name(name_);
      v1::Pipeline resp;
      grpc::Status s = stub->GetPipeline(c.NewContext().get(), req, &resp);
      if (!s.ok()) return RpcFail(s, c);
      if (g.output != "table") {
        Print(resp, g.output);
        return 0;
      }
      PrintPipelineSummary(resp);
      v1::GetGitOpsRequest git_req;
      git_req.set_pipeline(name_);
      v1::GitOpsBinding binding;
      grpc::Status git = stub->GetGitOps(c.NewContext().get(), git_req, &binding);
      if (git.ok()) {
        PrintGitOps(binding);
      } else if (git.error_code() != grpc::StatusCode::NOT_FOUND) {
        std::printf("GitOps:       (cannot read: %s)\n", git.error_message().c_str());
      }
      return 0;
    }

    if (history_->parsed()) {
      v1::ListPipelineRevisionsResponse all;
      v1::ListPipelineRevisionsRequest req;
      req.set_pipeline(name_);
      req.set_page_size(100);
      do {
        v1::ListPipelineRevisionsResponse resp;
        grpc::Status s = stub->ListPipelineRevisions(c.NewContext().get(), req, &resp);
        if (!s.ok()) return RpcFail(s, c);
        for (auto& r : *resp.mutable_revisions()) *all.add_revisions() = std::move(r);
        req.set_page_token(resp.next_page_token());
      } while (!req.page_token().empty());
      if (g.output != "table") {
        Print(all, g.output);
        return 0;
      }
      std::printf("%-9s %-25s %-28s %-10s %-30s %s\n", "REVISION", "TIME", "ACTOR", "SOURCE",
                  "CHANGED", "MESSAGE");
      for (const auto& r : all.revisions()) {
        std::string actor = r.actor().empty() ? "-" : r.actor();
        if (!r.actor_description().empty()) actor += " (" + r.actor_description() + ")";
        std::string changed = r.deleted()             ? "(deleted)"
                              : r.changed_size() == 0 ? "(created)"
                                                      : absl::StrJoin(r.changed(), ",");
        // A Git SHA beside the source: what the revision was synced from or written back as.
        std::string source = SourceName(r.source());
        if (!r.git_sha().empty()) source += ":" + r.git_sha().substr(0, 12);
        std::printf("%-9lld %-25s %-28s %-10s %-30s %s\n", static_cast<long long>(r.revision()),
                    FormatTimestamp(r.create_time()).c_str(), actor.c_str(), source.c_str(),
                    changed.c_str(), r.message().c_str());
      }
      return 0;
    }

    if (delete_->parsed()) {
      v1::DeletePipelineRequest req;
      req.set_name(name_);
      req.set_etag(etag_);
      req.set_request_id(request_id_);
      v1::DeletePipelineResponse resp;
      grpc::Status s = stub->DeletePipeline(c.NewContext().get(), req, &resp);
      if (!s.ok()) return RpcFail(s, c);
      if (g.output == "table")
        std::printf("pipeline/%s deleted\n", name_.c_str());
      else
        Print(resp, g.output);
      return 0;
    }
    return 2;
  }

  CLI::App* apply_ = nullptr;
  CLI::App* update_ = nullptr;
  CLI::App* validate_ = nullptr;
  FieldLines lines_;  // where the file wrote each field
  CLI::App* list_ = nullptr;
  CLI::App* get_ = nullptr;
  CLI::App* delete_ = nullptr;
  CLI::App* history_ = nullptr;
  std::string file_, request_id_, name_, etag_, prefix_, message_, instance_;
  std::vector<std::string> overrides_;
  bool dry_run_ = false;
  v1::Pipeline spec_;
};

}  // namespace

int DiffPipeline(const Connection& c, const std::string& name, int64_t from, int64_t to,
                 const std::string& output) {
  auto stub = v1::PipelineService::NewStub(c.channel);
  v1::DiffPipelineRevisionsRequest req;
  req.set_pipeline(name);
  req.set_from_revision(from);
  req.set_to_revision(to);
  v1::DiffPipelineRevisionsResponse resp;
  grpc::Status s = stub->DiffPipelineRevisions(c.NewContext().get(), req, &resp);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") {
    Print(resp, output);
    return 0;
  }
  std::printf("pipeline/%s revision %lld -> %lld: %d change%s\n", name.c_str(),
              static_cast<long long>(from), static_cast<long long>(to), resp.changes_size(),
              resp.changes_size() == 1 ? "" : "s");
  PrintChanges(resp.changes());
  return 0;
}

std::unique_ptr<CommandGroup> PipelineCommands() { return std::make_unique<PipelineGroup>(); }

}  // namespace slipway::cli
