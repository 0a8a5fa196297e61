#include "cli/run_commands.h"

#include <algorithm>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/proto_yaml.h"
#include "common/run_state.h"
#include "slipway/v1/delivery_service.grpc.pb.h"
#include "slipway/v1/release_service.grpc.pb.h"

namespace slipway::cli {
namespace {

void Print(const google::protobuf::Message& m, const std::string& output) {
  std::fputs((output == "yaml" ? ToYaml(m) : ToJson(m) + "\n").c_str(), stdout);
}

std::string Short(const google::protobuf::EnumValueDescriptor* v) { return EnumShortName(v); }
std::string StateName(v1::RunState s) { return Short(v1::RunState_descriptor()->FindValueByNumber(s)); }
std::string NodeStateName(v1::NodeState s) {
  return Short(v1::NodeState_descriptor()->FindValueByNumber(s));
}

bool SplitTarget(const std::string& target, std::string* pipeline, std::string* stage) {
  std::vector<std::string> parts = absl::StrSplit(target, '/');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) return false;
  *pipeline = parts[0];
  *stage = parts[1];
  return true;
}

const char* Color(v1::RunState s, bool tty) {
  if (!tty) return "";
  switch (s) {
    case v1::RUN_STATE_SUCCEEDED: return "\033[32m";
    case v1::RUN_STATE_FAILED:
    case v1::RUN_STATE_CANCELLED: return "\033[31m";
    case v1::RUN_STATE_AWAITING_APPROVAL:
    case v1::RUN_STATE_QUEUED: return "\033[33m";
    default: return "\033[36m";
  }
}

}  // namespace

int WatchRun(const Connection& c, const std::string& run_id, bool logs_only,
             const std::string& node, bool follow, const std::string& output) {
  auto stub = v1::ReleaseService::NewStub(c.channel);
  const bool tty = ::isatty(STDOUT_FILENO) && output == "table";
  int64_t after = 0;
  // Without --follow, `logs` prints what has happened so far and stops there.
  int64_t stop_at = -1;
  if (logs_only && !follow) {
    v1::GetRunRequest get;
    get.set_id(run_id);
    v1::Run run;
    grpc::Status s = stub->GetRun(c.NewContext().get(), get, &run);
    if (!s.ok()) return RpcFail(s, c);
    stop_at = run.last_event();
  }
  v1::RunState last_state = v1::RUN_STATE_UNSPECIFIED;
  int reconnects = 0;
  while (true) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + c.token);
    v1::WatchRunRequest req;
    req.set_id(run_id);
    req.set_after_sequence(after);
    auto reader = stub->WatchRun(&ctx, req);
    v1::RunEvent e;
    while (reader->Read(&e)) {
      after = e.sequence();
      last_state = e.state();
      if (output != "table") {
        std::fputs((ToJson(e) + "\n").c_str(), stdout);
        continue;
      }
      if (!node.empty() && e.node().ref() != node) continue;
      if (logs_only) {
        if (stop_at >= 0 && after >= stop_at && e.log().empty()) break;
        if (!e.log().empty()) {
          std::printf("%s %-12s %s\n", e.time().c_str(),
                      e.node().ref().empty() ? "-" : e.node().ref().c_str(), e.log().c_str());
        }
        continue;
      }
      std::string what = e.node().ref().empty()
                             ? absl::StrCat("run ", StateName(e.state()))
                             : absl::StrCat(e.node().ref(), " ", NodeStateName(e.node().state()));
      std::printf("%s%s %-28s%s %s\n", Color(e.state(), tty), e.time().substr(11, 12).c_str(),
                  what.c_str(), tty ? "\033[0m" : "", e.log().c_str());
      std::fflush(stdout);
      if (stop_at >= 0 && after >= stop_at) break;
    }
    if (stop_at >= 0 && after >= stop_at) {
      ctx.TryCancel();
      (void)reader->Finish();
      return 0;
    }
    grpc::Status s = reader->Finish();
    if (s.ok()) break;
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE && reconnects++ < 30) {
      // The daemon restarted or the connection dropped: resume after the last event seen.
      std::fprintf(stderr, "slipway: connection lost, resuming after event %lld\n",
                   static_cast<long long>(after));
      grpc::ClientContext wait;
      wait.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      c.channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(2));
      continue;
    }
    return RpcFail(s, c);
  }
  if (logs_only) return 0;
  if (!RunEnded(last_state)) {
    auto run_stub = v1::ReleaseService::NewStub(c.channel);
    v1::GetRunRequest get;
    get.set_id(run_id);
    v1::Run run;
    if (run_stub->GetRun(c.NewContext().get(), get, &run).ok()) last_state = run.state();
  }
  if (output == "table") {
    std::printf("run %s %s\n", run_id.c_str(), StateName(last_state).c_str());
  }
  return last_state == v1::RUN_STATE_SUCCEEDED ? 0 : 1;
}

int StartRun(const Connection& c, const StartFlags& flags, const std::string& output) {
  v1::StartRunRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(flags.target, &pipeline, &stage)) {
    return Fail("run: expected PIPELINE/STAGE, e.g. shop/staging");
  }
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  for (const std::string& kv : flags.args) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Fail("--arg: expected name=value, got \"" + kv + "\"");
    (*req.mutable_args())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  req.mutable_trigger()->set_sha(flags.sha);
  req.mutable_trigger()->set_branch(flags.branch);
  req.mutable_trigger()->set_tag(flags.tag);
  req.mutable_trigger()->set_reason(flags.reason);
  req.set_request_id(flags.request_id);
  req.set_override_hold(flags.override_hold);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::Run run;
  grpc::Status s = stub->StartRun(c.NewContext().get(), req, &run);
  if (!s.ok()) return RpcFail(s, c);
  if (!flags.wait) {
    if (output == "table") {
      std::printf("run %s %s%s%s\n", run.id().c_str(), StateName(run.state()).c_str(),
                  run.waiting_reason().empty() ? "" : ": ", run.waiting_reason().c_str());
    } else {
      Print(run, output);
    }
    return 0;
  }
  if (output == "table") std::printf("run %s started\n", run.id().c_str());
  return WatchRun(c, run.id(), false, "", true, output);
}

int GetRun(const Connection& c, const std::string& run_id, const std::string& output) {
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::GetRunRequest req;
  req.set_id(run_id);
  v1::Run run;
  grpc::Status s = stub->GetRun(c.NewContext().get(), req, &run);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") {
    Print(run, output);
    return 0;
  }
  std::printf("Run:       %s\nStage:     %s/%s\nState:     %s\n", run.id().c_str(),
              run.pipeline().c_str(), run.stage().c_str(), StateName(run.state()).c_str());
  if (!run.waiting_reason().empty()) std::printf("Waiting:   %s\n", run.waiting_reason().c_str());
  if (!run.error().empty()) std::printf("Error:     %s\n", run.error().c_str());
  std::printf("Trigger:   %s by %s%s%s\n", run.trigger().event().c_str(),
              run.trigger().actor().c_str(), run.trigger().sha().empty() ? "" : " sha ",
              run.trigger().sha().c_str());
  std::printf("Created:   %s\n", run.create_time().c_str());
  if (run.release() > 0) std::printf("Release:   %lld\n", static_cast<long long>(run.release()));
  std::printf("Nodes:\n  %-16s %-18s %-8s %s\n", "REF", "STATE", "ATTEMPTS", "OUTPUTS / ERROR");
  for (const auto& n : run.nodes()) {
    std::vector<std::string> outs;
    for (const char* k : {"version", "url", "status", "exit_code", "approved_by"}) {
      auto it = n.outputs().find(k);
      if (it != n.outputs().end()) outs.push_back(absl::StrCat(k, "=", it->second));
    }
    std::string detail = n.error().empty() ? absl::StrJoin(outs, " ") : n.error();
    std::printf("  %-16s %-18s %-8d %s\n", n.ref().c_str(), NodeStateName(n.state()).c_str(),
                n.attempts(), detail.c_str());
  }
  return 0;
}

int ListRuns(const Connection& c, const std::string& target, const std::string& state,
             int limit, const std::string& output) {
  v1::ListRunsRequest req;
  std::string pipeline = target, stage;
  if (target.find('/') != std::string::npos && !SplitTarget(target, &pipeline, &stage)) {
    return Fail("runs: expected PIPELINE or PIPELINE/STAGE");
  }
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  if (!state.empty()) {
    const auto* v = v1::RunState_descriptor()->FindValueByName("RUN_STATE_" + absl::AsciiStrToUpper(state));
    if (v == nullptr) return Fail("--state: unknown state \"" + state + "\"");
    req.add_states(static_cast<v1::RunState>(v->number()));
  }
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::ListRunsResponse resp;
  // Pages of at most 100 until `limit` runs or the end.
  do {
    req.set_page_size(std::min(100, limit - resp.runs_size()));
    v1::ListRunsResponse page;
    grpc::Status s = stub->ListRuns(c.NewContext().get(), req, &page);
    if (!s.ok()) return RpcFail(s, c);
    for (auto& r : *page.mutable_runs()) *resp.add_runs() = std::move(r);
    req.set_page_token(page.next_page_token());
  } while (!req.page_token().empty() && resp.runs_size() < limit);
  if (output != "table") {
    Print(resp, output);
    return 0;
  }
  std::printf("%-22s %-18s %-18s %-8s %-25s %s\n", "RUN", "STAGE", "STATE", "RELEASE", "CREATED",
              "TRIGGER");
  for (const auto& r : resp.runs()) {
    std::printf("%-22s %-18s %-18s %-8s %-25s %s %s\n", r.id().c_str(),
                (r.pipeline() + "/" + r.stage()).c_str(), StateName(r.state()).c_str(),
                r.release() > 0 ? std::to_string(r.release()).c_str() : "-", r.create_time().c_str(),
                r.trigger().event().c_str(), r.trigger().sha().c_str());
  }
  return 0;
}

int CancelRun(const Connection& c, const std::string& run_id, const std::string& reason,
              const std::string& output) {
  v1::CancelRunRequest req;
  req.set_id(run_id);
  req.set_reason(reason);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::Run run;
  grpc::Status s = stub->CancelRun(c.NewContext().get(), req, &run);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") Print(run, output);
  else std::printf("run %s %s\n", run.id().c_str(), StateName(run.state()).c_str());
  return 0;
}

int ApproveRun(const Connection& c, const std::string& run_id, const std::string& node,
               const std::string& comment, bool reject, const std::string& output) {
  v1::ApproveRunRequest req;
  req.set_id(run_id);
  req.set_node(node);
  req.set_comment(comment);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::Run run;
  grpc::Status s = reject ? stub->RejectRun(c.NewContext().get(), req, &run)
                          : stub->ApproveRun(c.NewContext().get(), req, &run);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") Print(run, output);
  else std::printf("run %s: %s %s\n", run.id().c_str(), node.c_str(), reject ? "rejected" : "approved");
  return 0;
}

int RetryRun(const Connection& c, const std::string& run_id, const std::string& request_id,
             bool wait, const std::string& output) {
  v1::RetryRunRequest req;
  req.set_id(run_id);
  req.set_request_id(request_id);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::Run run;
  grpc::Status s = stub->RetryRun(c.NewContext().get(), req, &run);
  if (!s.ok()) return RpcFail(s, c);
  if (output == "table") std::printf("run %s started (retry of %s)\n", run.id().c_str(), run_id.c_str());
  else if (!wait) Print(run, output);
  return wait ? WatchRun(c, run.id(), false, "", true, output) : 0;
}

int ListReleases(const Connection& c, const std::string& target, const std::string& output) {
  v1::ListReleasesRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage)) return Fail("releases: expected PIPELINE/STAGE");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::ListReleasesResponse resp;
  grpc::Status s = stub->ListReleases(c.NewContext().get(), req, &resp);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") {
    Print(resp, output);
    return 0;
  }
  std::printf("%-8s %-22s %-25s %-10s %s\n", "RELEASE", "RUN", "CREATED", "ROLLBACK", "RESOURCES");
  for (const auto& r : resp.releases()) {
    std::vector<std::string> res;
    for (const auto& s2 : r.resources()) res.push_back(s2.name() + "=" + s2.artifact().version());
    std::printf("%-8lld %-22s %-25s %-10s %s\n", static_cast<long long>(r.number()),
                r.run_id().c_str(), r.create_time().c_str(),
                r.rollback_of() > 0 ? std::to_string(r.rollback_of()).c_str() : "-",
                absl::StrJoin(res, " ").c_str());
  }
  return 0;
}

int GetRelease(const Connection& c, const std::string& target, int64_t number,
               const std::string& output) {
  v1::GetReleaseRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage)) return Fail("release get: expected PIPELINE/STAGE N");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  req.set_number(number);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::Release release;
  grpc::Status s = stub->GetRelease(c.NewContext().get(), req, &release);
  if (!s.ok()) return RpcFail(s, c);
  Print(release, output == "json" ? "json" : "yaml");
  return 0;
}

namespace {

void PrintDiff(const v1::ReleaseDiff& diff) {
  if (diff.resources_size() == 0) {
    std::printf("no differences between release %lld and release %lld\n",
                static_cast<long long>(diff.from_release()), static_cast<long long>(diff.to_release()));
    return;
  }
  std::printf("release %lld -> release %lld\n", static_cast<long long>(diff.from_release()),
              static_cast<long long>(diff.to_release()));
  for (const auto& r : diff.resources()) {
    std::printf("  %s\n", r.resource().c_str());
    for (const auto& ch : r.changes()) std::printf("    %s\n", ch.c_str());
  }
}

}  // namespace

int Rollback(const Connection& c, const RollbackFlags& flags, const std::string& output) {
  v1::RollbackStageRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(flags.target, &pipeline, &stage)) return Fail("rollback: expected PIPELINE/STAGE");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  req.set_to_release(flags.to);
  req.set_dry_run(flags.dry_run);
  req.set_reason(flags.reason);
  req.set_request_id(flags.request_id);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::RollbackStageResponse resp;
  grpc::Status s = stub->RollbackStage(c.NewContext().get(), req, &resp);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") {
    Print(resp, output);
    if (flags.dry_run || flags.no_wait) return 0;
    return WatchRun(c, resp.run().id(), false, "", true, output);
  }
  PrintDiff(resp.diff());
  if (flags.dry_run) {
    std::printf("dry run: nothing changed\n");
    return 0;
  }
  std::printf("rollback to release %lld: run %s\n", static_cast<long long>(resp.target_release()),
              resp.run().id().c_str());
  if (flags.no_wait) return 0;
  int rc = WatchRun(c, resp.run().id(), false, "", true, output);
  if (rc == 0) std::printf("stage %s is held; `slipway unhold %s` lifts it\n", flags.target.c_str(), flags.target.c_str());
  return rc;
}

int Diff(const Connection& c, const std::string& target, int64_t from, int64_t to,
         const std::string& output) {
  v1::DiffReleasesRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage)) return Fail("diff: expected PIPELINE/STAGE FROM TO");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  req.set_from_release(from);
  req.set_to_release(to);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::ReleaseDiff diff;
  grpc::Status s = stub->DiffReleases(c.NewContext().get(), req, &diff);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") Print(diff, output);
  else PrintDiff(diff);
  return 0;
}

int Hold(const Connection& c, const std::string& target, const std::string& reason,
         const std::string& output) {
  v1::HoldStageRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage)) return Fail("hold: expected PIPELINE/STAGE");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  req.set_reason(reason);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::StageHold hold;
  grpc::Status s = stub->HoldStage(c.NewContext().get(), req, &hold);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") Print(hold, output);
  else std::printf("stage %s held (release %lld)\n", target.c_str(), static_cast<long long>(hold.pinned_release()));
  return 0;
}

int Unhold(const Connection& c, const std::string& target, const std::string& output) {
  v1::ReleaseHoldRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage)) return Fail("unhold: expected PIPELINE/STAGE");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::ReleaseHoldResponse resp;
  grpc::Status s = stub->ReleaseHold(c.NewContext().get(), req, &resp);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") Print(resp, output);
  else std::printf("stage %s %s\n", target.c_str(), resp.has_released() ? "released" : "was not held");
  return 0;
}

int GetStage(const Connection& c, const std::string& target, const std::string& output) {
  v1::GetStageRequest req;
  std::string pipeline, stage;
  if (!SplitTarget(target, &pipeline, &stage)) return Fail("get stage: expected PIPELINE/STAGE");
  req.set_pipeline(pipeline);
  req.set_stage(stage);
  auto stub = v1::ReleaseService::NewStub(c.channel);
  v1::StageStatus st;
  grpc::Status s = stub->GetStage(c.NewContext().get(), req, &st);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") {
    Print(st, output);
    return 0;
  }
  std::printf("Stage:     %s/%s\n", st.pipeline().c_str(), st.spec().name().c_str());
  std::printf("Release:   %s\n", st.current_release() > 0 ? std::to_string(st.current_release()).c_str() : "none yet");
  if (st.has_hold()) {
    std::printf("Hold:      %s (by %s at %s, pins release %lld)\n", st.hold().reason().c_str(),
                st.hold().held_by().c_str(), st.hold().hold_time().c_str(),
                static_cast<long long>(st.hold().pinned_release()));
  } else {
    std::printf("Hold:      none\n");
  }
  std::printf("Resources:\n");
  for (const auto& r : st.resources()) {
    auto url = r.status().find("url");
    std::printf("  %-16s version %-16s %s\n", r.name().c_str(), r.artifact().version().c_str(),
                url == r.status().end() ? "" : url->second.c_str());
  }
  std::printf("Recent runs:\n");
  for (const auto& r : st.recent_runs()) {
    std::printf("  %-22s %-10s %-18s %s\n", r.id().c_str(),
                Short(v1::RunKind_descriptor()->FindValueByNumber(r.kind())).c_str(),
                StateName(r.state()).c_str(), r.create_time().c_str());
  }
  return 0;
}

int ListDeliveries(const Connection& c, const std::string& pipeline, const std::string& output) {
  v1::ListDeliveriesRequest req;
  req.set_pipeline(pipeline);
  auto stub = v1::DeliveryService::NewStub(c.channel);
  v1::ListDeliveriesResponse resp;
  grpc::Status s = stub->ListDeliveries(c.NewContext().get(), req, &resp);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") {
    Print(resp, output);
    return 0;
  }
  std::printf("%-22s %-10s %-26s %-7s %-22s %s\n", "DELIVERY", "PROVIDER", "EVENT", "STATUS",
              "RECEIVED", "RESULT");
  for (const auto& d : resp.deliveries()) {
    std::string what = d.event().event();
    if (!d.event().branch().empty()) what += " " + d.event().branch();
    if (!d.event().tag().empty()) what += " " + d.event().tag();
    std::printf("%-22s %-10s %-26s %-7d %-22s %s\n", d.id().c_str(),
                Short(v1::Provider_descriptor()->FindValueByNumber(d.provider())).c_str(),
                what.substr(0, 26).c_str(), d.status(), d.receive_time().substr(0, 19).c_str(),
                d.message().c_str());
  }
  return 0;
}

int GetDelivery(const Connection& c, const std::string& id, const std::string& output) {
  v1::GetDeliveryRequest req;
  req.set_id(id);
  auto stub = v1::DeliveryService::NewStub(c.channel);
  v1::Delivery d;
  grpc::Status s = stub->GetDelivery(c.NewContext().get(), req, &d);
  if (!s.ok()) return RpcFail(s, c);
  Print(d, output == "json" ? "json" : "yaml");
  return 0;
}

int Redeliver(const Connection& c, const std::string& id, const std::string& output) {
  v1::RedeliverRequest req;
  req.set_id(id);
  auto stub = v1::DeliveryService::NewStub(c.channel);
  v1::Delivery d;
  grpc::Status s = stub->Redeliver(c.NewContext().get(), req, &d);
  if (!s.ok()) return RpcFail(s, c);
  if (output != "table") Print(d, output);
  else std::printf("delivery %s: %d %s\n", d.id().c_str(), d.status(), d.message().c_str());
  return 0;
}

}  // namespace slipway::cli
