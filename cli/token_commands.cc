// The token commands: token create (the secret is printed once), token list, token revoke.
#include <cstdio>

#include "cli/command_group.h"
#include "common/token_text.h"
#include "slipway/v1/admin_service.grpc.pb.h"

namespace slipway::cli {
namespace {

class TokenGroup final : public CommandGroup {
 public:
  void Register(CLI::App& app) override {
    CLI::App* token = app.add_subcommand("token", "Manage API tokens (needs an admin token)");
    token->require_subcommand(1);
    create_ = token->add_subcommand("create", "Create a token; printed once");
    create_->add_option("--scope", scope_, "read, deploy or admin")->required();
    create_->add_option("--description", description_, "What it is for");
    Example(create_, {"slipway token create --scope deploy --description 'CI for shop'"});
    list_ = token->add_subcommand("list", "List tokens");
    list_->add_flag("--all", all_, "Include revoked tokens");
    Example(list_, {"slipway token list --all"});
    get_tokens_ = SharedSubcommand(app, "get", kGetHelp)->add_subcommand("tokens", "List tokens");
    get_tokens_->add_flag("--all", all_, "Include revoked tokens");
    Example(get_tokens_, {"slipway get tokens", "slipway get tokens --all -o json"});
    revoke_ = token->add_subcommand("revoke", "Revoke a token");
    revoke_->add_option("id", id_, "Token id")->required();
    Example(revoke_, {"slipway token revoke 3f9a2c1b7d4e"});
  }

  std::optional<int> Run(const Globals& g) override {
    if (create_->parsed()) {
      auto scope = ParseScope(scope_, "--scope");  // checked before any call
      if (!scope.ok()) return UsageFail(std::string(scope.status().message()));
      return WithConnection(g, [&](const Connection& c) { return Create(g, c, *scope); });
    }
    if (list_->parsed() || get_tokens_->parsed())
      return WithConnection(g, [&](const Connection& c) { return List(g, c); });
    if (revoke_->parsed()) {
      return WithConnection(g, [&](const Connection& c) { return Revoke(g, c); });
    }
    return std::nullopt;
  }

 private:
  int Create(const Globals& g, const Connection& c, v1::Scope scope) {
    v1::CreateTokenRequest req;
    req.set_scope(scope);
    req.set_description(description_);
    v1::CreateTokenResponse resp;
    grpc::Status s =
        v1::AdminService::NewStub(c.channel)->CreateToken(c.NewContext().get(), req, &resp);
    if (!s.ok()) return RpcFail(s, c);
    if (g.output != "table") {
      Print(resp, g.output);
    } else {
      std::fprintf(stderr, "token %s (%s) created; it is shown once:\n", resp.token().id().c_str(),
                   scope_.c_str());
      std::printf("%s\n", resp.secret().c_str());
    }
    return 0;
  }

  int List(const Globals& g, const Connection& c) {
    v1::ListTokensRequest req;
    req.set_include_revoked(all_);
    v1::ListTokensResponse resp;
    grpc::Status s =
        v1::AdminService::NewStub(c.channel)->ListTokens(c.NewContext().get(), req, &resp);
    if (!s.ok()) return RpcFail(s, c);
    if (g.output != "table") {
      Print(resp, g.output);
    } else {
      PrintTokenTable(stdout, {resp.tokens().begin(), resp.tokens().end()});
    }
    return 0;
  }

  int Revoke(const Globals& g, const Connection& c) {
    v1::RevokeTokenRequest req;
    req.set_id(id_);
    v1::Token resp;
    grpc::Status s =
        v1::AdminService::NewStub(c.channel)->RevokeToken(c.NewContext().get(), req, &resp);
    if (!s.ok()) return RpcFail(s, c);
    if (g.output != "table") {
      Print(resp, g.output);
    } else {
      std::printf("token %s revoked\n", resp.id().c_str());
    }
    return 0;
  }

  CLI::App* create_ = nullptr;
  CLI::App* get_tokens_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* revoke_ = nullptr;
  std::string scope_, description_, id_;
  bool all_ = false;
};

}  // namespace

std::unique_ptr<CommandGroup> TokenCommands() { return std::make_unique<TokenGroup>(); }

}  // namespace slipway::cli
