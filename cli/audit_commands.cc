// `slipway audit`: the audit trail, newest first, filtered by time, actor, target and action.
#include <cstdio>

#include "absl/time/clock.h"
#include "cli/command_group.h"
#include "common/duration.h"
#include "common/proto_time.h"
#include "slipway/v1/audit_service.grpc.pb.h"

namespace slipway::cli {
namespace {

class AuditGroup final : public CommandGroup {
 public:
  void Register(CLI::App& app) override {
    audit_ = app.add_subcommand(
        "audit", "Show the audit trail: who changed what, when, from where, and how it ended");
    audit_->add_option("--since", since_, "Only records of this last while (24h, 30m, 7d)");
    audit_->add_option("--actor", actor_, "Only this actor (token:<id>, schedule, poll:<repo>)");
    audit_->add_option("--target", target_,
                       "Only this target and what is under it (shop, shop/prod, run-…)");
    audit_->add_option("--action", action_,
                       "Only actions starting with this (PipelineService/, webhook/)");
    audit_->add_option("--limit", limit_, "At most this many records (default 100, up to 10000)");
    Example(audit_, {"slipway audit --since 24h", "slipway audit --target shop/prod -o json",
                     "slipway audit --actor token:tok-0123456789abcdef"});
  }

  std::optional<int> Run(const Globals& g) override {
    if (!audit_->parsed()) return std::nullopt;
    v1::ListAuditRecordsRequest req;
    if (!since_.empty()) {
      auto d = ParseDuration(since_);
      if (!d.ok()) return UsageFail("--since: " + std::string(d.status().message()));
      *req.mutable_since() = ProtoTime(absl::Now() - *d);
    }
    if (limit_ < 1 || limit_ > 10000) return UsageFail("--limit: 1 to 10000");
    req.set_actor(actor_);
    req.set_target(target_);
    req.set_action(action_);
    return WithConnection(g, [&](const Connection& c) {
      auto stub = v1::AuditService::NewStub(c.channel);
      v1::ListAuditRecordsResponse all;
      do {
        req.set_page_size(std::min(limit_ - all.records_size(), 1000));
        v1::ListAuditRecordsResponse resp;
        grpc::Status s = stub->ListAuditRecords(c.NewContext().get(), req, &resp);
        if (!s.ok()) return RpcFail(s, c);
        for (auto& r : *resp.mutable_records()) *all.add_records() = std::move(r);
        req.set_page_token(resp.next_page_token());
      } while (!req.page_token().empty() && all.records_size() < limit_);
      if (g.output != "table") {
        Print(all, g.output);
        return 0;
      }
      std::printf("%-25s %-34s %-36s %-24s %-22s %s\n", "TIME", "ACTOR", "ACTION", "TARGET", "FROM",
                  "OUTCOME");
      for (const auto& r : all.records()) {
        std::string actor = r.actor();
        if (!r.actor_description().empty()) actor += " (" + r.actor_description() + ")";
        std::printf(
            "%-25s %-34s %-36s %-24s %-22s %s\n", FormatTimestamp(r.time()).c_str(), actor.c_str(),
            r.action().c_str(), r.target().empty() ? "-" : r.target().c_str(),
            r.source_address().empty() ? "-" : r.source_address().c_str(), r.outcome().c_str());
      }
      return 0;
    });
  }

 private:
  CLI::App* audit_ = nullptr;
  std::string since_, actor_, target_, action_;
  int limit_ = 100;
};

}  // namespace

std::unique_ptr<CommandGroup> AuditCommands() { return std::make_unique<AuditGroup>(); }

}  // namespace slipway::cli
