// slipway: the command-line client of slipwayd. Human tables by default, `-o json` or
// `-o yaml` for scripts. Exit codes: 0 success, 1 an error from the server or in the input
// (the message is printed), 2 a usage error.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "cli/connection.h"
#include "cli/preview_commands.h"
#include "cli/run_commands.h"
#include "common/proto_yaml.h"
#include "slipway/v1/admin_service.grpc.pb.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"

namespace {

using slipway::cli::Connection;
namespace v1 = slipway::v1;

int Error(const std::string& message) {
  std::fprintf(stderr, "slipway: %s\n", message.c_str());
  return 1;
}

int RpcError(const grpc::Status& s, const Connection& c) {
  return Error(slipway::cli::DescribeError(s, c.address));
}

bool ReadSpec(const std::string& path, v1::Pipeline* pipeline, std::string* error) {
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
  absl::Status s = slipway::ParseYaml(ss.str(), pipeline);
  if (!s.ok()) {
    *error = path + ": " + std::string(s.message());
    return false;
  }
  return true;
}

void PrintMessage(const google::protobuf::Message& m, const std::string& output) {
  std::fputs((output == "yaml" ? slipway::ToYaml(m) : slipway::ToJson(m) + "\n").c_str(), stdout);
}

std::string ScopeName(v1::Scope s) { return slipway::EnumShortName(v1::Scope_descriptor()->FindValueByNumber(s)); }

void PrintPipelineSummary(const v1::Pipeline& p) {
  std::printf("Name:         %s\n", p.name().c_str());
  if (!p.description().empty()) std::printf("Description:  %s\n", p.description().c_str());
  std::printf("Revision:     %lld\n", static_cast<long long>(p.revision()));
  std::printf("Etag:         %s\n", p.etag().c_str());
  std::printf("Created:      %s\n", p.create_time().c_str());
  std::printf("Updated:      %s\n", p.update_time().c_str());
  if (p.sources_size() > 0) {
    std::printf("Sources:\n");
    for (const auto& s : p.sources()) {
      std::printf("  %-14s %-10s %s\n", s.name().c_str(),
                  slipway::EnumShortName(v1::Provider_descriptor()->FindValueByNumber(s.provider())).c_str(),
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
            : slipway::EnumShortName(v1::ConcurrencyPolicy_descriptor()->FindValueByNumber(st.concurrency()));
    std::printf("  %-3d %-16s %-11s %-40s %d\n", i + 1, st.name().c_str(), concurrency.c_str(),
                absl::StrJoin(resources, ",").c_str(), st.triggers_size());
  }
  if (p.preview_blueprints_size() > 0) {
    std::vector<std::string> names;
    for (const auto& b : p.preview_blueprints()) names.push_back(b.name());
    std::printf("Previews:     %s\n", absl::StrJoin(names, ", ").c_str());
  }
  if (p.webhook_triggers_size() > 0) {
    std::vector<std::string> names;
    for (const auto& w : p.webhook_triggers()) names.push_back(w.name() + "->" + w.stage());
    std::printf("Webhooks:     %s\n", absl::StrJoin(names, ", ").c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"slipway: the Slipway release controller's command-line client"};
  app.set_version_flag("--version", "slipway 0.1.0");
  app.require_subcommand(1);
  // Global flags may also follow the subcommand: `slipway get pipeline shop -o yaml`.
  app.fallthrough();
  slipway::cli::ConnectionFlags flags;
  std::string output = "table";
  app.add_option("--server", flags.server, "slipwayd gRPC address host:port "
                                           "(default: $SLIPWAY_SERVER, the local daemon, "
                                           "127.0.0.1:7420)");
  app.add_option("--token", flags.token, "Bearer token (default: $SLIPWAY_TOKEN or the local "
                                         "daemon's admin.token)");
  app.add_option("--data-dir", flags.data_dir, "Local daemon's data dir, where the token and "
                                               "ports are found");
  app.add_flag("--tls", flags.tls, "Connect with TLS");
  app.add_option("--ca-cert", flags.ca_cert, "PEM CA certificate to verify the server (implies "
                                             "--tls)");
  app.add_option("--timeout", flags.timeout_seconds, "Seconds to wait for each call")
      ->check(CLI::PositiveNumber);
  app.add_option("-o,--output", output, "Output: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));

  std::string file, request_id, name, etag, prefix, scope, description, id;
  bool all = false;

  auto* apply = app.add_subcommand("apply", "Create or update a pipeline from a file");
  apply->add_option("-f,--file", file, "Pipeline YAML or JSON file ('-' for stdin)")->required();
  apply->add_option("--request-id", request_id, "Idempotency key: a retry returns the first result");

  auto* update = app.add_subcommand(
      "update", "Replace a pipeline from a file that carries its etag (from get -o yaml); fails "
                "if the pipeline changed since");
  update->add_option("-f,--file", file, "Pipeline YAML or JSON file ('-' for stdin)")->required();
  update->add_option("--request-id", request_id, "Idempotency key");

  auto* validate = app.add_subcommand("validate", "Check a pipeline file without writing anything");
  validate->add_option("-f,--file", file, "Pipeline YAML or JSON file ('-' for stdin)")->required();

  auto* get = app.add_subcommand("get", "Show pipelines");
  get->require_subcommand(1);
  auto* get_pipelines = get->add_subcommand("pipelines", "List pipelines");
  get_pipelines->add_option("--prefix", prefix, "Only names starting with this");
  auto* get_pipeline = get->add_subcommand("pipeline", "Show one pipeline");
  get_pipeline->add_option("name", name, "Pipeline name")->required();

  auto* del = app.add_subcommand("delete", "Delete a pipeline");
  del->require_subcommand(1);
  auto* del_pipeline = del->add_subcommand("pipeline", "Delete a pipeline");
  del_pipeline->add_option("name", name, "Pipeline name")->required();
  del_pipeline->add_option("--etag", etag, "Only if the pipeline is still at this etag");
  del_pipeline->add_option("--request-id", request_id, "Idempotency key");

  auto* token = app.add_subcommand("token", "Manage API tokens (needs an admin token)");
  token->require_subcommand(1);
  auto* token_create = token->add_subcommand("create", "Create a token; printed once");
  token_create->add_option("--scope", scope, "read, deploy or admin")->required();
  token_create->add_option("--description", description, "What it is for");
  auto* token_list = token->add_subcommand("list", "List tokens");
  token_list->add_flag("--all", all, "Include revoked tokens");
  auto* token_revoke = token->add_subcommand("revoke", "Revoke a token");
  token_revoke->add_option("id", id, "Token id")->required();

  slipway::cli::StartFlags start;
  std::vector<std::string> run_words, release_words;
  std::string run_id, node, comment, reason, state;
  bool follow = false;
  auto* run_cmd = app.add_subcommand(
      "run", "Start a run of a stage's release flow (PIPELINE/STAGE), or show one (run get ID)");
  run_cmd->add_option("target", run_words, "PIPELINE/STAGE, or: get RUN_ID")->required();
  run_cmd->add_option("--arg", start.args, "Run argument name=value (repeatable)");
  run_cmd->add_option("--sha", start.sha, "Git SHA being released (${trigger.sha})");
  run_cmd->add_option("--branch", start.branch, "Branch (${trigger.branch})");
  run_cmd->add_option("--tag", start.tag, "Tag (${trigger.tag})");
  run_cmd->add_option("--reason", start.reason, "Why (recorded on the run)");
  run_cmd->add_option("--request-id", start.request_id,
                      "Idempotency key: a retried CI job attaches to the same run");
  run_cmd->add_flag("--override-hold", start.override_hold,
                    "Run although the stage is held (recorded; lifts the hold)");
  run_cmd->add_flag("--wait", start.wait,
                    "Show progress until the run ends; exit 0 only if it succeeded");
  auto* runs_cmd = app.add_subcommand("runs", "List runs, newest first");
  runs_cmd->add_option("target", start.target, "PIPELINE or PIPELINE/STAGE");
  runs_cmd->add_option("--state", state, "Only runs in this state (running, failed, …)");
  int runs_limit = 50;
  runs_cmd->add_option("--limit", runs_limit, "At most this many runs, newest first (1 to 10000)")
      ->check(CLI::Range(1, 10000));
  auto* logs_cmd = app.add_subcommand("logs", "Show a run's log lines");
  logs_cmd->add_option("run", run_id, "Run id")->required();
  logs_cmd->add_flag("-f,--follow", follow, "Keep following until the run ends");
  logs_cmd->add_option("--node", node, "Only this node's lines");
  auto* cancel_cmd = app.add_subcommand("cancel", "Cancel a run");
  cancel_cmd->add_option("run", run_id, "Run id")->required();
  cancel_cmd->add_option("--reason", reason, "Why");
  auto* approve_cmd = app.add_subcommand("approve", "Approve a run's approval node");
  approve_cmd->add_option("run", run_id, "Run id")->required();
  approve_cmd->add_option("--node", node, "The approval node's ref")->required();
  approve_cmd->add_option("--comment", comment, "Comment");
  auto* reject_cmd = app.add_subcommand("reject", "Reject a run's approval node (the run fails)");
  reject_cmd->add_option("run", run_id, "Run id")->required();
  reject_cmd->add_option("--node", node, "The approval node's ref")->required();
  reject_cmd->add_option("--comment", comment, "Comment");
  auto* retry_cmd = app.add_subcommand("retry", "Start a run again with the same arguments");
  retry_cmd->add_option("run", run_id, "Run id")->required();
  retry_cmd->add_option("--request-id", start.request_id, "Idempotency key");
  retry_cmd->add_flag("--wait", start.wait, "Show progress until the run ends");
  auto* releases_cmd = app.add_subcommand("releases", "List a stage's releases, newest first");
  releases_cmd->add_option("target", start.target, "PIPELINE/STAGE")->required();
  auto* release_cmd = app.add_subcommand("release", "Show a release: release get PIPELINE/STAGE N");
  release_cmd->add_option("words", release_words, "get PIPELINE/STAGE N")->required();

  slipway::cli::RollbackFlags rollback;
  std::vector<std::string> diff_words;
  auto* rollback_cmd = app.add_subcommand(
      "rollback", "Roll a stage back to the release before the current one (or --to N) and hold it");
  rollback_cmd->add_option("target", rollback.target, "PIPELINE/STAGE")->required();
  rollback_cmd->add_option("--to", rollback.to, "Release number to go back to");
  rollback_cmd->add_flag("--dry-run", rollback.dry_run, "Show what would change; change nothing");
  rollback_cmd->add_option("--reason", rollback.reason, "Why (recorded on the hold)");
  rollback_cmd->add_option("--request-id", rollback.request_id, "Idempotency key");
  rollback_cmd->add_flag("--no-wait", rollback.no_wait, "Return once the rollback has started");
  auto* diff_cmd = app.add_subcommand("diff", "What changed between two releases");
  diff_cmd->add_option("words", diff_words, "PIPELINE/STAGE FROM TO")->required()->expected(3);
  auto* hold_cmd = app.add_subcommand("hold", "Hold a stage: triggers stop starting runs on it");
  hold_cmd->add_option("target", rollback.target, "PIPELINE/STAGE")->required();
  hold_cmd->add_option("--reason", reason, "Why")->required();
  auto* unhold_cmd = app.add_subcommand("unhold", "Lift a stage's hold");
  unhold_cmd->add_option("target", rollback.target, "PIPELINE/STAGE")->required();
  auto* get_stage = get->add_subcommand("stage", "Show a stage: release, hold, resources, runs");
  get_stage->add_option("target", rollback.target, "PIPELINE/STAGE")->required();

  std::string pipeline_filter;
  std::vector<std::string> delivery_words;
  auto* deliveries_cmd = app.add_subcommand("deliveries", "List webhook deliveries, newest first");
  deliveries_cmd->add_option("--pipeline", pipeline_filter, "Only deliveries that matched it");
  auto* delivery_cmd = app.add_subcommand("delivery", "delivery get ID | delivery redeliver ID");
  delivery_cmd->add_option("words", delivery_words, "get ID | redeliver ID")->required()->expected(2);

  std::string previews_pipeline;
  bool previews_all = false;
  auto* previews_cmd = app.add_subcommand("previews", "List preview environments");
  previews_cmd->add_option("pipeline", previews_pipeline, "Only this pipeline's");
  previews_cmd->add_flag("--all", previews_all, "Include deleted previews");
  std::vector<std::string> preview_words;
  slipway::cli::PreviewFlags preview_flags;
  auto* preview_cmd = app.add_subcommand(
      "preview", "preview get NAME | create PIPELINE --branch B | delete NAME | extend NAME 2h | "
                 "pause NAME | resume NAME");
  preview_cmd->add_option("words", preview_words, "verb and its arguments")->required()->expected(1, 3);
  preview_cmd->add_option("--branch", preview_flags.branch, "create: the branch to preview");
  preview_cmd->add_option("--sha", preview_flags.sha, "create: its commit");
  preview_cmd->add_option("--blueprint", preview_flags.blueprint,
                          "create: the blueprint (if the pipeline has several)");
  preview_cmd->add_option("--arg", preview_flags.args, "create: key=value, repeatable");
  preview_cmd->add_flag("--skip-teardown", preview_flags.skip_teardown,
                        "delete: do not run the teardown flow (resources are still removed)");
  preview_cmd->add_flag("--wait", preview_flags.wait,
                        "create/resume: until READY; delete: until DELETED");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  // Files are read and checked locally before any call, so a typo never reaches the server.
  v1::Pipeline spec;
  if (apply->parsed() || validate->parsed() || update->parsed()) {
    std::string error;
    if (!ReadSpec(file, &spec, &error)) return Error(error);
  }

  auto conn = slipway::cli::Connect(flags);
  if (!conn.ok()) return Error(std::string(conn.status().message()));
  auto pipelines = v1::PipelineService::NewStub(conn->channel);
  auto admin = v1::AdminService::NewStub(conn->channel);

  if (run_cmd->parsed()) {
    if (run_words.size() == 2 && run_words[0] == "get") {
      return slipway::cli::GetRun(*conn, run_words[1], output);
    }
    if (run_words.size() != 1) return Error("run: expected PIPELINE/STAGE or get RUN_ID");
    start.target = run_words[0];
    return slipway::cli::StartRun(*conn, start, output);
  }
  if (previews_cmd->parsed()) {
    return slipway::cli::ListPreviews(*conn, previews_pipeline, previews_all, output);
  }
  if (preview_cmd->parsed()) {
    return slipway::cli::PreviewCommand(*conn, preview_words, preview_flags, output);
  }
  if (deliveries_cmd->parsed()) return slipway::cli::ListDeliveries(*conn, pipeline_filter, output);
  if (delivery_cmd->parsed()) {
    if (delivery_words[0] == "get") return slipway::cli::GetDelivery(*conn, delivery_words[1], output);
    if (delivery_words[0] == "redeliver") {
      return slipway::cli::Redeliver(*conn, delivery_words[1], output);
    }
    return Error("delivery: expected get ID or redeliver ID");
  }
  if (rollback_cmd->parsed()) return slipway::cli::Rollback(*conn, rollback, output);
  if (diff_cmd->parsed()) {
    int64_t from = 0, to = 0;
    if (!absl::SimpleAtoi(diff_words[1], &from) || !absl::SimpleAtoi(diff_words[2], &to)) {
      return Error("diff: expected PIPELINE/STAGE FROM TO (release numbers)");
    }
    return slipway::cli::Diff(*conn, diff_words[0], from, to, output);
  }
  if (hold_cmd->parsed()) return slipway::cli::Hold(*conn, rollback.target, reason, output);
  if (unhold_cmd->parsed()) return slipway::cli::Unhold(*conn, rollback.target, output);
  if (get_stage->parsed()) return slipway::cli::GetStage(*conn, rollback.target, output);
  if (runs_cmd->parsed()) return slipway::cli::ListRuns(*conn, start.target, state, runs_limit, output);
  if (logs_cmd->parsed()) return slipway::cli::WatchRun(*conn, run_id, true, node, follow, output);
  if (cancel_cmd->parsed()) return slipway::cli::CancelRun(*conn, run_id, reason, output);
  if (approve_cmd->parsed() || reject_cmd->parsed()) {
    return slipway::cli::ApproveRun(*conn, run_id, node, comment, reject_cmd->parsed(), output);
  }
  if (retry_cmd->parsed()) {
    return slipway::cli::RetryRun(*conn, run_id, start.request_id, start.wait, output);
  }
  if (releases_cmd->parsed()) return slipway::cli::ListReleases(*conn, start.target, output);
  if (release_cmd->parsed()) {
    int64_t number = 0;
    if (release_words.size() != 3 || release_words[0] != "get" ||
        !absl::SimpleAtoi(release_words[2], &number)) {
      return Error("release: expected get PIPELINE/STAGE NUMBER");
    }
    return slipway::cli::GetRelease(*conn, release_words[1], number, output);
  }

  if (apply->parsed()) {
    v1::ApplyPipelineRequest req;
    *req.mutable_pipeline() = spec;
    req.set_request_id(request_id);
    v1::ApplyPipelineResponse resp;
    grpc::Status s = pipelines->ApplyPipeline(conn->NewContext().get(), req, &resp);
    if (!s.ok()) return RpcError(s, *conn);
    if (output != "table") {
      PrintMessage(resp, output);
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
      std::printf("webhook trigger %s: POST http://<slipwayd-http>%s (shown once; keep it secret)\n",
                  name.c_str(), url.c_str());
    }
    return 0;
  }

  if (update->parsed()) {
    v1::UpdatePipelineRequest req;
    *req.mutable_pipeline() = spec;
    req.set_request_id(request_id);
    v1::Pipeline resp;
    grpc::Status s = pipelines->UpdatePipeline(conn->NewContext().get(), req, &resp);
    if (!s.ok()) return RpcError(s, *conn);
    if (output != "table") {
      PrintMessage(resp, output);
    } else {
      std::printf("pipeline/%s updated (revision %lld, etag %s)\n", resp.name().c_str(),
                  static_cast<long long>(resp.revision()), resp.etag().c_str());
    }
    return 0;
  }

  if (validate->parsed()) {
    v1::ValidatePipelineRequest req;
    *req.mutable_pipeline() = spec;
    v1::ValidatePipelineResponse resp;
    grpc::Status s = pipelines->ValidatePipeline(conn->NewContext().get(), req, &resp);
    if (!s.ok()) return RpcError(s, *conn);
    if (output != "table") {
      PrintMessage(resp, output);
    } else if (resp.valid()) {
      std::printf("%s: valid\n", file.c_str());
    } else {
      for (const auto& p : resp.problems()) {
        std::fprintf(stderr, "%s: %s%s%s\n", file.c_str(), p.field().c_str(),
                     p.field().empty() ? "" : ": ", p.message().c_str());
      }
      std::fprintf(stderr, "%d problem%s\n", resp.problems_size(),
                   resp.problems_size() == 1 ? "" : "s");
    }
    return resp.valid() ? 0 : 1;
  }

  if (get_pipelines->parsed()) {
    v1::ListPipelinesResponse all_pages;
    v1::ListPipelinesRequest req;
    req.set_name_prefix(prefix);
    req.set_page_size(100);
    do {
      v1::ListPipelinesResponse resp;
      grpc::Status s = pipelines->ListPipelines(conn->NewContext().get(), req, &resp);
      if (!s.ok()) return RpcError(s, *conn);
      for (auto& p : *resp.mutable_pipelines()) *all_pages.add_pipelines() = std::move(p);
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    if (output != "table") {
      PrintMessage(all_pages, output);
      return 0;
    }
    std::printf("%-24s %-7s %-9s %-25s %s\n", "NAME", "STAGES", "REVISION", "UPDATED", "DESCRIPTION");
    for (const auto& p : all_pages.pipelines()) {
      std::printf("%-24s %-7d %-9lld %-25s %s\n", p.name().c_str(), p.stages_size(),
                  static_cast<long long>(p.revision()), p.update_time().c_str(),
                  p.description().c_str());
    }
    return 0;
  }

  if (get_pipeline->parsed()) {
    v1::GetPipelineRequest req;
    req.set_name(name);
    v1::Pipeline resp;
    grpc::Status s = pipelines->GetPipeline(conn->NewContext().get(), req, &resp);
    if (!s.ok()) return RpcError(s, *conn);
    if (output != "table") {
      PrintMessage(resp, output);
    } else {
      PrintPipelineSummary(resp);
    }
    return 0;
  }

  if (del_pipeline->parsed()) {
    v1::DeletePipelineRequest req;
    req.set_name(name);
    req.set_etag(etag);
    req.set_request_id(request_id);
    v1::DeletePipelineResponse resp;
    grpc::Status s = pipelines->DeletePipeline(conn->NewContext().get(), req, &resp);
    if (!s.ok()) return RpcError(s, *conn);
    if (output == "table") std::printf("pipeline/%s deleted\n", name.c_str());
    else PrintMessage(resp, output);
    return 0;
  }

  if (token_create->parsed()) {
    v1::CreateTokenRequest req;
    if (scope == "read") req.set_scope(v1::SCOPE_READ);
    else if (scope == "deploy") req.set_scope(v1::SCOPE_DEPLOY);
    else if (scope == "admin") req.set_scope(v1::SCOPE_ADMIN);
    else return Error("--scope: \"" + scope + "\" is not read, deploy or admin");
    req.set_description(description);
    v1::CreateTokenResponse resp;
    grpc::Status s = admin->CreateToken(conn->NewContext().get(), req, &resp);
    if (!s.ok()) return RpcError(s, *conn);
    if (output != "table") {
      PrintMessage(resp, output);
    } else {
      std::fprintf(stderr, "token %s (%s) created; it is shown once:\n", resp.token().id().c_str(),
                   scope.c_str());
      std::printf("%s\n", resp.secret().c_str());
    }
    return 0;
  }

  if (token_list->parsed()) {
    v1::ListTokensRequest req;
    req.set_include_revoked(all);
    v1::ListTokensResponse resp;
    grpc::Status s = admin->ListTokens(conn->NewContext().get(), req, &resp);
    if (!s.ok()) return RpcError(s, *conn);
    if (output != "table") {
      PrintMessage(resp, output);
      return 0;
    }
    std::printf("%-14s %-7s %-25s %-25s %s\n", "ID", "SCOPE", "CREATED", "REVOKED", "DESCRIPTION");
    for (const auto& t : resp.tokens()) {
      std::printf("%-14s %-7s %-25s %-25s %s\n", t.id().c_str(), ScopeName(t.scope()).c_str(),
                  t.create_time().c_str(), t.revoke_time().empty() ? "-" : t.revoke_time().c_str(),
                  t.description().c_str());
    }
    return 0;
  }

  if (token_revoke->parsed()) {
    v1::RevokeTokenRequest req;
    req.set_id(id);
    v1::Token resp;
    grpc::Status s = admin->RevokeToken(conn->NewContext().get(), req, &resp);
    if (!s.ok()) return RpcError(s, *conn);
    if (output != "table") PrintMessage(resp, output);
    else std::printf("token %s revoked\n", resp.id().c_str());
    return 0;
  }
  return 2;
}
