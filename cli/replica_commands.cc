// `slipway get replicas`: the slipwayd processes sharing a PostgreSQL store, what each owns, and
// whether its lease is live.
#include <cstdio>
#include <string>

#include "absl/strings/str_join.h"
#include "cli/command_group.h"
#include "common/proto_time.h"
#include "slipway/v1/admin_service.grpc.pb.h"

namespace slipway::cli {
namespace {

class ReplicaGroup final : public CommandGroup {
 public:
  void Register(CLI::App& app) override {
    get_ = SharedSubcommand(app, "get", kGetHelp)
               ->add_subcommand("replicas", "List the slipwayd replicas sharing the store");
    Example(get_, {"slipway get replicas", "slipway get replicas -o json"});
  }

  std::optional<int> Run(const Globals& g) override {
    if (!get_->parsed()) return std::nullopt;
    return WithConnection(g, [&](const Connection& c) { return List(g, c); });
  }

 private:
  static int List(const Globals& g, const Connection& c) {
    v1::ListReplicasResponse resp;
    grpc::Status s = v1::AdminService::NewStub(c.channel)->ListReplicas(
        c.NewContext().get(), v1::ListReplicasRequest(), &resp);
    if (!s.ok()) return RpcFail(s, c);
    if (g.output != "table") {
      Print(resp, g.output);
      return 0;
    }
    if (resp.answered_by().empty()) {
      std::printf("one slipwayd on SQLite: no replicas (they need a PostgreSQL store)\n");
      return 0;
    }
    std::printf("%-24s %-5s %-22s %-22s %-8s %-24s %5s %6s  %s\n", "REPLICA", "LIVE", "GRPC",
                "HTTP", "VERSION", "HEARTBEAT", "RUNS", "TOKEN", "OWNS");
    for (const v1::Replica& r : resp.replicas()) {
      std::string id = r.id() == resp.answered_by() ? r.id() + " *" : r.id();
      std::printf("%-24s %-5s %-22s %-22s %-8s %-24s %5lld %6lld  %s\n", id.c_str(),
                  r.live() ? "yes" : "no", r.grpc_address().c_str(), r.http_address().c_str(),
                  r.version().c_str(), FormatTimestamp(r.heartbeat_time()).c_str(),
                  static_cast<long long>(r.active_runs()), static_cast<long long>(r.lease_token()),
                  absl::StrJoin(r.work(), ", ").c_str());
    }
    std::printf("* answered this call\n");
    return 0;
  }

  CLI::App* get_ = nullptr;
};

}  // namespace

std::unique_ptr<CommandGroup> ReplicaCommands() { return std::make_unique<ReplicaGroup>(); }

}  // namespace slipway::cli
