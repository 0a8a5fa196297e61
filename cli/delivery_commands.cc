// The delivery commands: deliveries (webhook deliveries, newest first), delivery get,
// delivery redeliver.
#include <unistd.h>

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command_group.h"
#include "common/proto_time.h"
#include "common/proto_yaml.h"
#include "slipway/v1/delivery_service.grpc.pb.h"

namespace slipway::cli {
namespace {

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
    // What a push did to pipelines kept in Git: "shop: sync failed at 3f9a2c1b7d4e: …".
    std::string result = d.message();
    for (const auto& m : d.matches()) {
      if (!m.gitops().empty()) result += "; " + m.pipeline() + ": " + m.gitops();
    }
    std::printf("%-22s %-10s %-26s %-7d %-22s %s\n", d.id().c_str(),
                EnumShortName(v1::Provider_descriptor()->FindValueByNumber(d.provider())).c_str(),
                what.substr(0, 26).c_str(), d.status(),
                FormatTimestamp(d.receive_time()).substr(0, 19).c_str(), result.c_str());
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
  if (output != "table")
    Print(d, output);
  else
    std::printf("delivery %s: %d %s\n", d.id().c_str(), d.status(), d.message().c_str());
  return 0;
}

class DeliveryGroup final : public CommandGroup {
 public:
  void Register(CLI::App& app) override {
    deliveries_ = app.add_subcommand("deliveries", "List webhook deliveries, newest first");
    deliveries_->add_option("--pipeline", pipeline_, "Only deliveries that matched it");
    Example(deliveries_, {"slipway deliveries --pipeline shop"});
    get_deliveries_ = SharedSubcommand(app, "get", kGetHelp)
                          ->add_subcommand("deliveries", "List webhook deliveries, newest first");
    get_deliveries_->add_option("--pipeline", pipeline_, "Only deliveries that matched it");
    Example(get_deliveries_, {"slipway get deliveries --pipeline shop -o json"});
    delivery_ = app.add_subcommand("delivery", "delivery get ID | delivery redeliver ID");
    delivery_->add_option("words", words_, "get ID | redeliver ID")->required()->expected(2);
    Example(delivery_,
            {"slipway delivery get d-5c1f0e2a", "slipway delivery redeliver d-5c1f0e2a"});
  }

  std::optional<int> Run(const Globals& g) override {
    const std::string& out = g.output;
    if (deliveries_->parsed() || get_deliveries_->parsed()) {
      return WithConnection(g,
                            [&](const Connection& c) { return ListDeliveries(c, pipeline_, out); });
    }
    if (delivery_->parsed()) {
      if (words_[0] == "get") {
        return WithConnection(g,
                              [&](const Connection& c) { return GetDelivery(c, words_[1], out); });
      }
      if (words_[0] == "redeliver") {
        return WithConnection(g, [&](const Connection& c) { return Redeliver(c, words_[1], out); });
      }
      return UsageFail("delivery: expected get ID or redeliver ID");
    }
    return std::nullopt;
  }

 private:
  CLI::App *deliveries_ = nullptr, *delivery_ = nullptr, *get_deliveries_ = nullptr;
  std::string pipeline_;
  std::vector<std::string> words_;
};

}  // namespace

std::unique_ptr<CommandGroup> DeliveryCommands() { return std::make_unique<DeliveryGroup>(); }

}  // namespace slipway::cli
