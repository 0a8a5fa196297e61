// slipwayd: the composition root. Parses flags and the config file, picks the real clock,
// randomness and store, runs the server until SIGTERM/SIGINT, then drains and exits 0.
// `slipwayd token create|list|revoke` manages API tokens offline on a data dir.
#include <grpc/support/log.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/cli_docs.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/random.h"
#include "common/version.h"
#include "deploy/unix_http.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/server.h"
#include "storage/audit_log.h"
#include "storage/database.h"
#include "storage/store_copy.h"
#include "storage/store_url.h"

namespace {

using slipway::server::DaemonConfig;

// grpc-core's own log lines, through slipwayd's logger: in its format, at its level.
void RouteGrpcLog(gpr_log_func_args* args) {
  spdlog::level::level_enum level = spdlog::level::info;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) level = spdlog::level::debug;
  if (args->severity == GPR_LOG_SEVERITY_ERROR) level = spdlog::level::err;
  spdlog::log(level, "grpc: {} ({}:{})", args->message, args->file, args->line);
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "slipwayd: %s\n", std::string(s.message()).c_str());
  return 1;
}

// `slipwayd store copy`: every row of one store into a new, empty one, verified by counts and
// checksums read back from the destination.
int RunStoreCopy(const std::string& from_store, const std::string& to_store,
                 const std::string& data_dir) {
  const std::string default_path = slipway::server::DatabasePath(data_dir);
  auto from_options = slipway::storage::StoreOptions(from_store, default_path);
  if (!from_options.ok()) return Fail(from_options.status());
  auto to_options = slipway::storage::StoreOptions(to_store, default_path);
  if (!to_options.ok()) return Fail(to_options.status());
  if (from_options->postgres.empty() && ::access(from_options->path.c_str(), R_OK) != 0) {
    return Fail(absl::NotFoundError(
        absl::StrCat("--from: ", from_options->path, " does not exist or cannot be read")));
  }
  auto from = slipway::storage::Database::Open(*from_options);
  if (!from.ok()) return Fail(from.status());
  auto to = slipway::storage::Database::Open(*to_options);
  if (!to.ok()) return Fail(to.status());
  std::fprintf(stderr, "copying %s to %s\n", (*from)->name().c_str(), (*to)->name().c_str());
  auto copied = slipway::storage::CopyStore(**from, **to);
  if (!copied.ok()) return Fail(copied.status());
  int64_t rows = 0;
  std::printf("%-20s %10s  %s\n", "TABLE", "ROWS", "SHA-256 (source = destination)");
  for (const auto& t : *copied) {
    std::printf("%-20s %10lld  %s\n", t.name.c_str(), static_cast<long long>(t.rows),
                t.checksum.c_str());
    rows += t.rows;
  }
  std::printf("copied %lld rows in %zu tables; every count and checksum matches\n",
              static_cast<long long>(rows), copied->size());
  return 0;
}

int RunTokenCommand(const std::string& action, const std::string& data_dir,
                    const std::string& store, const std::string& scope_text,
                    const std::string& description, const std::string& id, bool all,
                    const std::string& audit_file) {
  slipway::RealClock clock;
  slipway::SecureIdGenerator ids(&clock);
  auto options = slipway::storage::StoreOptions(store, slipway::server::DatabasePath(data_dir));
  if (!options.ok()) return Fail(options.status());
  auto db = slipway::storage::Database::Open(*options);
  if (!db.ok()) return Fail(db.status());
  slipway::server::TokenManager tokens(db->get(), &clock, &ids);
  // On the server machine, with the data dir's permissions instead of a token: recorded as
  // slipwayd's own action, naming the local user.
  slipway::storage::AuditLog audit(db->get(), &clock);
  if (!audit_file.empty()) {
    if (absl::Status s = audit.ShipTo(audit_file); !s.ok()) return Fail(s);
  }
  auto record = [&](const std::string& what, const std::string& target) {
    slipway::v1::AuditRecord r;
    r.set_actor_kind(slipway::v1::ACTOR_KIND_SYSTEM);
    const char* user = std::getenv("USER");
    r.set_actor(absl::StrCat("slipwayd token (local user ", user != nullptr ? user : "?", ")"));
    r.set_action(what);
    r.set_target(target);
    r.set_outcome("OK");
    audit.Record(std::move(r)).IgnoreError();  // logged by Record
  };
  if (action == "create") {
    auto scope = slipway::ParseScope(scope_text);
    if (!scope.ok()) return Fail(scope.status());
    auto issued = tokens.Create(*scope, description, "slipwayd token create");
    if (!issued.ok()) return Fail(issued.status());
    record("slipwayd/token create", "token " + issued->token.id());
    std::fprintf(stderr, "token %s (%s) created; it is shown once:\n", issued->token.id().c_str(),
                 scope_text.c_str());
    std::printf("%s\n", issued->secret.c_str());
    return 0;
  }
  if (action == "list") {
    auto list = tokens.List(all);
    if (!list.ok()) return Fail(list.status());
    slipway::PrintTokenTable(stdout, *list);
    return 0;
  }
  auto revoked = tokens.Revoke(id);
  if (!revoked.ok()) return Fail(revoked.status());
  record("slipwayd/token revoke", "token " + revoked->id());
  std::printf("token %s revoked\n", revoked->id().c_str());
  return 0;
}

}  // namespace

namespace {

int Main(int argc, char** argv) {
  CLI::App app{"the Slipway release controller", "slipwayd"};
  app.set_version_flag("--version", std::string("slipwayd ") + slipway::Version());
  bool man = false;
  app.add_flag("--man", man, "Print the slipwayd(8) man page and exit")->group("");
  std::string config_path, data_dir, store, grpc_listen, http_listen, log_format, tls_cert, tls_key,
      grace, reconcile_interval, max_webhook_body;
  double reconcile_max_share = -1;
  int http_threads = 0;
  app.add_option("--config", config_path, "YAML config file (flags win over it)");
  app.add_option("--data-dir", data_dir,
                 "Data directory (default: $SLIPWAY_DATA_DIR or "
                 "~/.local/share/slipway)");
  app.add_option("--store", store,
                 "Where state is kept: sqlite:PATH (default <data dir>/slipway.db) or "
                 "postgres://user@host/database, shared by several replicas (config key store)");
  app.add_option("--grpc-listen", grpc_listen,
                 "gRPC host:port (default 127.0.0.1:7420; port 0 "
                 "picks a free port)");
  app.add_option("--http-listen", http_listen,
                 "HTTP host:port for /healthz, /readyz, /metrics "
                 "(default 127.0.0.1:7421)");
  app.add_option("--preview-reconcile-interval", reconcile_interval,
                 "How often previews are compared with their pull requests and branches "
                 "(default 5m; 0s turns it off)");
  app.add_option("--preview-reconcile-max-share", reconcile_max_share,
                 "Largest share of live previews one reconcile may delete (default 0.5)");
  app.add_option("--http-threads", http_threads,
                 "HTTP connections served at once (webhooks, health, metrics; default 128)");
  app.add_option("--max-webhook-body", max_webhook_body,
                 "Largest webhook body accepted, e.g. 5MiB; larger ones get 413 before they "
                 "are read (default 25MiB)");
  // The HTTP edge's bounds and delivery retention: one flag per config key.
  std::map<std::string, std::string> bounds;
  for (const char* key : slipway::server::kBoundKeys) {
    std::string flag = std::string("--") + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    app.add_option(flag, bounds[key], std::string("Same as the config key ") + key);
  }
  std::string container_host, router, router_admin, router_server, preview_domain, audit_file;
  app.add_option("--audit-file", audit_file,
                 "Also append every audit record to this file as a JSON line (config key "
                 "audit_file)");
  app.add_option("--container-host", container_host,
                 "Docker Engine API socket for the container driver, e.g. "
                 "unix:///run/podman/podman.sock (config key container_host)");
  app.add_option("--router", router, "Route services by hostname: caddy (config key router)");
  app.add_option("--router-admin", router_admin,
                 "Caddy admin API (default http://127.0.0.1:2019; config key router_admin)");
  app.add_option("--router-server", router_server,
                 "The Caddy HTTP server whose routes Slipway manages (default previews)");
  app.add_option("--preview-domain", preview_domain,
                 "Domain routed services are served under, e.g. preview.example.com");
  app.add_option("--log-format", log_format, "text or json (default text)");
  std::string log_level;
  app.add_option("--log-level", log_level,
                 "debug, info, warn or error (default info; config key log_level); gRPC's own "
                 "errors always, its other lines with debug, all in --log-format");
  app.add_option("--tls-cert", tls_cert, "PEM certificate: serve gRPC and HTTP over TLS");
  app.add_option("--tls-key", tls_key, "PEM private key for --tls-cert");
  std::string secret_key_file, new_key_file, admin_token_file;
  app.add_option("--admin-token-file", admin_token_file,
                 "The first admin token (slw_ and 64 hex digits) on a new data dir, e.g. a "
                 "mounted Secret; default: a new one written to <data dir>/admin.token");
  app.add_option("--secret-key-file", secret_key_file,
                 "Key that seals secret values in the database (default: <data dir>/secret.key, "
                 "created 0600 on first start)");
  app.add_option("--shutdown-grace", grace,
                 "How long SIGTERM waits for in-flight calls "
                 "(default 10s)");

  auto* token = app.add_subcommand("token", "Manage API tokens offline on a data dir");
  token->require_subcommand(1);
  std::string scope = "read", description, token_id;
  bool all = false;
  auto* create = token->add_subcommand("create", "Create a token and print it once");
  create->add_option("--scope", scope, "read, deploy or admin")->required();
  create->add_option("--description", description, "What the token is for");
  auto* list = token->add_subcommand("list", "List tokens");
  list->add_flag("--all", all, "Include revoked tokens");
  auto* revoke = token->add_subcommand("revoke", "Revoke a token by id");
  revoke->add_option("id", token_id, "Token id")->required();
  for (auto* sub : {create, list, revoke}) {
    sub->add_option("--data-dir", data_dir, "Data directory");
    sub->add_option("--store", store, "The store (default: the config's, or the data dir's)");
  }
  std::string token_audit_file;
  for (auto* sub : {create, revoke}) {
    sub->add_option("--audit-file", token_audit_file,
                    "Also append the audit record to this JSON-lines file (default: the "
                    "config file's audit_file)");
  }
  auto* healthcheck = app.add_subcommand(
      "healthcheck", "Exit 0 if the local slipwayd answers 200 on /healthz (a container probe)");
  int health_port = 7421;
  std::string health_path = "/healthz";
  healthcheck->add_option("--port", health_port, "Its HTTP port on 127.0.0.1 (default 7421)")
      ->check(CLI::Range(1, 65535));
  healthcheck->add_option("--path", health_path, "The path to ask (default /healthz)");
  healthcheck->footer("Example:\n  slipwayd healthcheck --port 7421 --path /readyz");
  auto* secrets = app.add_subcommand("secrets", "Manage the key that seals stored secrets");
  secrets->require_subcommand(1);
  auto* rotate = secrets->add_subcommand(
      "rotate-key", "Re-seal every stored secret under a new key (run while slipwayd is stopped)");
  rotate->add_option("--data-dir", data_dir, "Data directory");
  rotate->add_option("--store", store, "The store (default: the config's, or the data dir's)");
  auto* store_cmd = app.add_subcommand("store", "Move state between stores");
  store_cmd->require_subcommand(1);
  auto* copy = store_cmd->add_subcommand(
      "copy", "Copy every row of a store into a new, empty one (run while slipwayd is stopped)");
  std::string copy_from, copy_to;
  copy->add_option("--from", copy_from, "The store to read: sqlite:PATH or postgres://…")
      ->required();
  copy->add_option("--to", copy_to, "The new store to fill: postgres://… or sqlite:PATH")
      ->required();
  copy->footer(
      "Rows are copied as stored: secret values stay sealed, so give the new store's replicas "
      "the same secret key file.\nExample:\n  slipwayd store copy --from "
      "sqlite:/var/lib/slipway/slipway.db --to postgres://slipway@db.example.com/slipway");
  rotate->add_option("--secret-key-file", secret_key_file, "The current key file");
  rotate->add_option("--new-key-file", new_key_file,
                     "Where to write the new key (default: the current key file is replaced)");
  // Set after the subcommands, which would otherwise inherit it.
  app.footer(
      "Serves gRPC (the CLI, CI jobs) and HTTP (webhooks, /healthz, /readyz, /metrics), and "
      "keeps everything in SQLite under the data dir. SIGTERM drains in-flight calls and exits "
      "0.\nExample:\n  slipwayd --config /etc/slipway/slipwayd.yaml\n"
      "  slipwayd --data-dir /tmp/slipway --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0");
  CLI11_PARSE(app, argc, argv);
  if (man) {
    slipway::ManExtras extras;
    extras.environment =
        "SLIPWAY_DATA_DIR\tthe data dir, when neither --data-dir nor data_dir is set\n";
    extras.files =
        "/etc/slipway/slipwayd.yaml\tthe packaged config file\n"
        "<data dir>/slipway.db\tthe SQLite database (WAL mode)\n"
        "<data dir>/admin.token\tthe bootstrap admin token, written 0600 on first start\n"
        "<data dir>/secret.key\tthe key that seals stored secrets, created 0600\n"
        "<data dir>/endpoints.json\tthe addresses actually listened on\n";
    extras.exit_status = "0\tstopped cleanly after SIGTERM or SIGINT\n1\tcould not start\n";
    std::fputs(slipway::ManPage(app, "slipwayd", 8, extras).c_str(), stdout);
    return 0;
  }

  DaemonConfig config;
  config.server.data_dir = slipway::DefaultDataDir();
  if (!config_path.empty()) {
    absl::Status s = slipway::server::LoadConfigFile(config_path, &config);
    if (!s.ok()) return Fail(s);
  }
  if (!data_dir.empty()) config.server.data_dir = data_dir;
  if (!store.empty()) config.server.store = store;
  if (!grpc_listen.empty()) config.server.grpc_listen = grpc_listen;
  if (!http_listen.empty()) config.server.http_listen = http_listen;
  if (!log_format.empty()) config.log_format = log_format;
  if (!log_level.empty()) config.log_level = log_level;
  if (!tls_cert.empty()) config.server.tls_cert = tls_cert;
  if (!tls_key.empty()) config.server.tls_key = tls_key;
  if (!secret_key_file.empty()) config.server.secret_key_file = secret_key_file;
  if (!admin_token_file.empty()) config.server.admin_token_file = admin_token_file;
  if (!container_host.empty()) config.server.container_host = container_host;
  if (!router.empty()) config.server.router = router;
  if (!router_admin.empty()) config.server.router_admin = router_admin;
  if (!router_server.empty()) config.server.router_server = router_server;
  if (!preview_domain.empty()) config.server.preview_domain = preview_domain;
  if (!audit_file.empty()) config.server.audit_file = audit_file;
  if (!grace.empty()) {
    auto d = slipway::ParseDuration(grace);
    if (!d.ok())
      return Fail(absl::InvalidArgumentError(std::string("--shutdown-grace: ") +
                                             std::string(d.status().message())));
    config.shutdown_grace = *d;
  }

  if (!reconcile_interval.empty()) {
    auto d = slipway::ParseDuration(reconcile_interval);
    if (!d.ok())
      return Fail(absl::InvalidArgumentError(std::string("--preview-reconcile-interval: ") +
                                             std::string(d.status().message())));
    config.server.reconcile_interval = *d;
  }
  if (reconcile_max_share >= 0) {
    if (reconcile_max_share > 1) {
      return Fail(absl::InvalidArgumentError("--preview-reconcile-max-share: between 0 and 1"));
    }
    config.server.reconcile_max_share = reconcile_max_share;
  }

  if (app.count("--http-threads") > 0) {
    if (absl::Status s = slipway::server::SetHttpThreads(http_threads, &config); !s.ok()) {
      return Fail(
          absl::InvalidArgumentError(std::string("--http-threads: ") + std::string(s.message())));
    }
  }
  if (!max_webhook_body.empty()) {
    if (absl::Status s = slipway::server::SetMaxWebhookBody(max_webhook_body, &config); !s.ok()) {
      return Fail(absl::InvalidArgumentError(std::string("--max-webhook-body: ") +
                                             std::string(s.message())));
    }
  }

  for (const auto& [key, value] : bounds) {
    if (value.empty()) continue;
    if (absl::Status s = slipway::server::SetBound(key, value, &config); !s.ok()) {
      std::string flag = "--" + key;
      std::replace(flag.begin(), flag.end(), '_', '-');
      return Fail(absl::InvalidArgumentError(flag + ": " + std::string(s.message())));
    }
  }

  if (healthcheck->parsed()) {
    auto response = slipway::deploy::SendLoopbackHttp(
        health_port, {.target = health_path, .host = "127.0.0.1", .timeout = absl::Seconds(3)});
    if (!response.ok()) return Fail(response.status());
    if (response->status != 200) {
      std::fprintf(stderr, "slipwayd: %s answered %d\n", health_path.c_str(), response->status);
      return 1;
    }
    return 0;
  }

  if (rotate->parsed()) {
    auto rows = slipway::server::RotateSecretKey(config.server.data_dir, config.server.store,
                                                 config.server.secret_key_file, new_key_file);
    if (!rows.ok()) return Fail(rows.status());
    std::printf("re-sealed the secrets of %lld stored rows under the new key\n",
                static_cast<long long>(*rows));
    return 0;
  }

  if (token->parsed()) {
    std::string action = create->parsed() ? "create" : list->parsed() ? "list" : "revoke";
    // The daemon's config file names the shipping file, unless --audit-file says another.
    const std::string& shipped =
        token_audit_file.empty() ? config.server.audit_file : token_audit_file;
    return RunTokenCommand(action, config.server.data_dir, config.server.store, scope, description,
                           token_id, all, shipped);
  }

  if (copy->parsed()) return RunStoreCopy(copy_from, copy_to, config.server.data_dir);

  if (absl::Status s = slipway::SetUpLogging(config.log_format, config.log_level); !s.ok()) {
    return Fail(s);
  }
  gpr_set_log_function(RouteGrpcLog);
  // gRPC's info lines are about its internals: shown only with --log-level debug.
  gpr_set_log_verbosity(config.log_level == "debug" ? GPR_LOG_SEVERITY_DEBUG
                                                    : GPR_LOG_SEVERITY_ERROR);

  // Signals are taken synchronously by this thread; every thread started later inherits the
  // mask, so no handler runs inside gRPC or SQLite code.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  slipway::RealClock clock;
  slipway::SecureIdGenerator ids(&clock);
  // A replica whose lease another took over can write nothing more: it stops, and its
  // supervisor (systemd's Restart=on-failure) starts it again as a new replica.
  static std::atomic<bool> lease_lost{false};
  config.server.on_lease_lost = [](const absl::Status&) {
    lease_lost = true;
    ::kill(::getpid(), SIGTERM);
  };
  auto server = slipway::server::Server::Start(config.server, &clock, &ids);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", std::string(server.status().message()));
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, draining for up to {}", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               absl::FormatDuration(config.shutdown_grace));
  (*server)->Shutdown(config.shutdown_grace);
  server->reset();
  if (lease_lost) {
    spdlog::error("stopped: another replica took this one's lease over");
    return 1;
  }
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "slipwayd: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "slipwayd: unexpected error\n");
  }
  return 1;
}
