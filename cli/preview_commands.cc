
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command_group.h"
#include "common/proto_time.h"
#include "common/proto_yaml.h"
#include "slipway/v1/preview.grpc.pb.h"
#include "slipway/v1/release_service.grpc.pb.h"

namespace slipway::cli {
namespace {

struct PreviewFlags {
  std::string pipeline, blueprint, branch, sha;
  std::vector<std::string> args;  // k=v
  bool skip_teardown = false;
  // logs: which resource, follow, how many lines first.
  std::string resource;
  bool follow = false;
  int tail = 0;
  // Wait until the preview is READY (or DELETED, for delete), or failed.
  bool wait = false;
};

std::string StateName(v1::PreviewState s) {
  return EnumShortName(v1::PreviewState_descriptor()->FindValueByNumber(s));
}

std::string Urls(const v1::Preview& p) {
  std::vector<std::string> urls;
  for (const auto& r : p.resources()) {
    auto it = r.status().find("url");
    if (it != r.status().end()) urls.push_back(r.name() + "=" + it->second);
  }
  return absl::StrJoin(urls, " ");
}

void Show(const v1::Preview& p, const std::string& output) {
  if (output == "table") {
    std::printf("preview %s: %s (%s)%s%s\n", p.name().c_str(), StateName(p.state()).c_str(),
                p.message().c_str(), p.resources().empty() ? "" : " ", Urls(p).c_str());
    return;
  }
  std::fputs((output == "json" ? ToJson(p) + "\n" : ToYaml(p)).c_str(), stdout);
}

// Polls until the preview reaches a state that `done` accepts, or 10 minutes pass.
int WaitFor(const Connection& c, const std::string& name, bool deleting,
            const std::string& output) {
  auto stub = v1::PreviewService::NewStub(c.channel);
  auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  while (std::chrono::steady_clock::now() < give_up) {
    v1::GetPreviewRequest req;
    req.set_name(name);
    v1::Preview p;
    grpc::Status s = stub->GetPreview(c.NewContext().get(), req, &p);
    if (!s.ok()) return RpcFail(s, c);
    switch (p.state()) {
      case v1::PREVIEW_STATE_READY:
        if (!deleting) {
          Show(p, output);
          return 0;
        }
        break;
      case v1::PREVIEW_STATE_DELETED:
        Show(p, output);
        return 0;
      case v1::PREVIEW_STATE_FAILED:
      case v1::PREVIEW_STATE_TEARDOWN_FAILED:
        Show(p, output);
        return 1;
      default:
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Fail(absl::StrCat("preview ", name, " did not settle within 10 minutes"));
}

int ListPreviews(const Connection& c, const std::string& pipeline, bool all,
                 const std::string& output) {
  v1::ListPreviewsRequest req;
  req.set_pipeline(pipeline);
  req.set_include_deleted(all);
  v1::ListPreviewsResponse resp;
  grpc::Status s =
      v1::PreviewService::NewStub(c.channel)->ListPreviews(c.NewContext().get(), req, &resp);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") {
    std::fputs((output == "json" ? ToJson(resp) + "\n" : ToYaml(resp)).c_str(), stdout);
    return 0;
  }
  std::printf("%-30s %-10s %-14s %-28s %-12s %-20s %s\n", "NAME", "PIPELINE", "STATE", "FOR", "SHA",
              "EXPIRES", "URLS");
  for (const auto& p : resp.previews()) {
    std::string what = p.subject().pull_request() > 0
                           ? absl::StrCat("PR #", p.subject().pull_request())
                           : "branch " + p.subject().branch();
    std::printf("%-30s %-10s %-14s %-28s %-12s %-20s %s\n", p.name().c_str(), p.pipeline().c_str(),
                StateName(p.state()).c_str(), what.substr(0, 28).c_str(),
                p.subject().sha().substr(0, 12).c_str(),
                FormatTimestamp(p.expire_time()).substr(0, 19).c_str(), Urls(p).c_str());
  }
  return 0;
}

}  // namespace

int StreamResourceLogs(const Connection& c, const v1::WatchResourceLogsRequest& req) {
  auto stub = v1::ReleaseService::NewStub(c.channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + c.token);
  if (!req.follow()) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(c.timeout_seconds));
  }
  auto reader = stub->WatchResourceLogs(&ctx, req);
  v1::ResourceLogChunk chunk;
  while (reader->Read(&chunk)) {
    std::fwrite(chunk.data().data(), 1, chunk.data().size(), stdout);
    std::fflush(stdout);
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return RpcFail(s, c);
  return 0;
}

namespace {

int PreviewCommand(const Connection& c, const std::vector<std::string>& words,
                   const PreviewFlags& flags, const std::string& output) {
  auto stub = v1::PreviewService::NewStub(c.channel);
  const std::string& verb = words[0];
  auto need = [&](size_t n, const char* usage) -> bool {
    if (words.size() != n) {
      UsageFail(absl::StrCat("preview ", verb, ": usage: slipway preview ", usage));
      return false;
    }
    return true;
  };
  v1::Preview p;
  grpc::Status s;
  if (verb == "get") {
    if (!need(2, "get NAME")) return 2;
    v1::GetPreviewRequest req;
    req.set_name(words[1]);
    s = stub->GetPreview(c.NewContext().get(), req, &p);
    if (!s.ok()) return RpcFail(s, c);
    std::fputs((output == "json" ? ToJson(p) + "\n" : ToYaml(p)).c_str(), stdout);
    return 0;
  }
  if (verb == "logs") {
    if (!need(2, "logs NAME --resource R [-f] [--tail N]")) return 2;
    v1::GetPreviewRequest get;
    get.set_name(words[1]);
    s = stub->GetPreview(c.NewContext().get(), get, &p);
    if (!s.ok()) return RpcFail(s, c);
    std::string resource = flags.resource;
    if (resource.empty()) {
      if (p.spec().resources_size() != 1) {
        return UsageFail(absl::StrCat("preview logs: --resource: required (preview ", p.name(),
                                      " has ", p.spec().resources_size(), " resources)"));
      }
      resource = p.spec().resources(0).name();
    }
    v1::WatchResourceLogsRequest req;
    req.set_pipeline(p.pipeline());
    req.set_preview(p.name());
    req.set_resource(resource);
    req.set_follow(flags.follow);
    req.set_tail_lines(flags.tail);
    return StreamResourceLogs(c, req);
  }
  if (verb == "create") {
    if (!need(2, "create PIPELINE --branch B [--sha S] [--arg k=v] [--blueprint N] [--wait]")) {
      return 2;
    }
    v1::CreatePreviewRequest req;
    req.set_pipeline(words[1]);
    req.set_blueprint(flags.blueprint);
    req.set_branch(flags.branch);
    req.set_sha(flags.sha);
    for (const std::string& kv : flags.args) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        return UsageFail(absl::StrCat("--arg ", kv, ": expected key=value"));
      }
      (*req.mutable_args())[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    s = stub->CreatePreview(c.NewContext().get(), req, &p);
    if (!s.ok()) return RpcFail(s, c);
    if (flags.wait) return WaitFor(c, p.name(), false, output);
    Show(p, output);
    return 0;
  }
  if (verb == "delete") {
    if (!need(2, "delete NAME [--skip-teardown] [--wait]")) return 2;
    v1::DeletePreviewRequest req;
    req.set_name(words[1]);
    req.set_skip_teardown(flags.skip_teardown);
    s = stub->DeletePreview(c.NewContext().get(), req, &p);
    if (!s.ok()) return RpcFail(s, c);
    if (flags.wait) return WaitFor(c, p.name(), true, output);
    Show(p, output);
    return 0;
  }
  if (verb == "extend") {
    if (!need(3, "extend NAME DURATION")) return 2;
    v1::ExtendPreviewRequest req;
    req.set_name(words[1]);
    if (absl::Status bad = ParseProtoDuration(words[2], req.mutable_duration()); !bad.ok()) {
      return UsageFail(absl::StrCat("preview extend: DURATION: ", bad.message()));
    }
    s = stub->ExtendPreview(c.NewContext().get(), req, &p);
    if (!s.ok()) return RpcFail(s, c);
    if (output == "table") {
      std::printf("preview %s now expires at %s\n", p.name().c_str(),
                  FormatTimestamp(p.expire_time()).c_str());
    } else {
      Show(p, output);
    }
    return 0;
  }
  if (verb == "pause" || verb == "resume") {
    if (!need(2, verb == "pause" ? "pause NAME" : "resume NAME [--wait]")) return 2;
    if (verb == "pause") {
      v1::PausePreviewRequest req;
      req.set_name(words[1]);
      s = stub->PausePreview(c.NewContext().get(), req, &p);
    } else {
      v1::ResumePreviewRequest req;
      req.set_name(words[1]);
      s = stub->ResumePreview(c.NewContext().get(), req, &p);
    }
    if (!s.ok()) return RpcFail(s, c);
    if (flags.wait && verb == "resume") return WaitFor(c, p.name(), false, output);
    Show(p, output);
    return 0;
  }
  return UsageFail(absl::StrCat("preview: unknown command \"", verb,
                                "\" (get, create, delete, extend, pause, resume, logs)"));
}

class PreviewGroup final : public CommandGroup {
 public:
  void Register(CLI::App& app) override {
    previews_ = app.add_subcommand("previews", "List preview environments");
    previews_->add_option("pipeline", list_pipeline_, "Only this pipeline's");
    previews_->add_flag("--all", list_all_, "Include deleted previews");
    Example(previews_, {"slipway previews shop", "slipway previews --all -o yaml"});
    get_previews_ = SharedSubcommand(app, "get", kGetHelp)
                        ->add_subcommand("previews", "List preview environments");
    get_previews_->add_option("pipeline", list_pipeline_, "Only this pipeline's");
    get_previews_->add_flag("--all", list_all_, "Include deleted previews");
    Example(get_previews_, {"slipway get previews shop"});
    preview_ = app.add_subcommand(
        "preview",
        "preview get NAME | create PIPELINE --branch B | delete NAME | extend NAME 2h "
        "| pause NAME | resume NAME | logs NAME --resource R [-f]");
    preview_->add_option("words", words_, "verb and its arguments")->required()->expected(1, 3);
    preview_->add_option("--branch", flags_.branch, "create: the branch to preview");
    preview_->add_option("--sha", flags_.sha, "create: its commit");
    preview_->add_option("--blueprint", flags_.blueprint,
                         "create: the blueprint (if the pipeline has several)");
    preview_->add_option("--arg", flags_.args, "create: key=value, repeatable");
    preview_->add_flag("--skip-teardown", flags_.skip_teardown,
                       "delete: do not run the teardown flow (resources are still removed)");
    preview_->add_option("--resource", flags_.resource, "logs: the resource whose output to show");
    preview_->add_flag("-f,--follow", flags_.follow, "logs: keep following new output");
    preview_->add_option("--tail", flags_.tail, "logs: lines of earlier output (default 100)");
    preview_->add_flag("--wait", flags_.wait, "create/resume: until READY; delete: until DELETED");
    Example(preview_, {"slipway preview create shop --branch feature/cart --wait",
                       "slipway preview logs shop-feature-cart --resource web -f",
                       "slipway preview extend shop-feature-cart 2h",
                       "slipway preview delete shop-feature-cart --wait"});
  }

  std::optional<int> Run(const Globals& g) override {
    if (previews_->parsed() || get_previews_->parsed()) {
      return WithConnection(g, [&](const Connection& c) {
        return ListPreviews(c, list_pipeline_, list_all_, g.output);
      });
    }
    if (preview_->parsed()) {
      return WithConnection(
          g, [&](const Connection& c) { return PreviewCommand(c, words_, flags_, g.output); });
    }
    return std::nullopt;
  }

 private:
  CLI::App *previews_ = nullptr, *preview_ = nullptr, *get_previews_ = nullptr;
  std::string list_pipeline_;
  bool list_all_ = false;
  std::vector<std::string> words_;
  PreviewFlags flags_;
};

}  // namespace

std::unique_ptr<CommandGroup> PreviewCommands() { return std::make_unique<PreviewGroup>(); }

}  // namespace slipway::cli
