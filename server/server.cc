#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/names.h"
#include "common/private_files.h"
#include "common/proto_time.h"
#include "common/proto_yaml.h"
#include "common/run_state.h"
#include "common/secret_box.h"
#include "common/status_macros.h"
#include "common/version.h"
#include "deploy/caddy_router.h"
#include "deploy/command_driver.h"
#include "deploy/container_driver.h"
#include "deploy/httplib_http_client.h"
#include "deploy/process_driver.h"
#include "deploy/thread_pool.h"
#include "gitops/gitops.h"
#include "pipeline/pipeline_manager.h"
#include "release/executor.h"
#include "release/retention.h"
#include "release/run_manager.h"
#include "release/stage_manager.h"
#include "server/auth.h"
#include "server/background.h"
#include "server/connect_gateway.h"
#include "server/container_sweep.h"
#include "server/http_edge.h"
#include "server/http_routes.h"
#include "server/maintenance.h"
#include "server/metrics.h"
#include "server/redaction.h"
#include "server/reflection_v1.h"
#include "server/replica_set.h"
#include "server/services.h"
#include "storage/database.h"
#include "storage/request_log.h"
#include "storage/sealed_secrets.h"
#include "storage/store_url.h"
#include "trigger/intake.h"
#include "trigger/poller.h"
#include "trigger/scheduler.h"

namespace slipway::server {
namespace {

struct HostPort {
  std::string host;
  int port = 0;
};

absl::StatusOr<HostPort> ParseListen(const std::string& flag, const std::string& value) {
  size_t colon = value.rfind(':');
  HostPort hp;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(value.substr(colon + 1), &hp.port) || hp.port < 0 || hp.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", value, "\" is not host:port (e.g. 127.0.0.1:7420)"));
  }
  hp.host = value.substr(0, colon);
  if (hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  return hp;
}

absl::StatusOr<std::string> ReadFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string DatabasePath(const std::string& data_dir) { return data_dir + "/slipway.db"; }
std::string DefaultSecretKeyPath(const std::string& data_dir) { return data_dir + "/secret.key"; }

std::string AdminTokenPath(const std::string& data_dir) { return data_dir + "/admin.token"; }
std::string EndpointsPath(const std::string& data_dir) { return data_dir + "/endpoints.json"; }

struct Server::Impl {
  ServerOptions options;
  std::unique_ptr<storage::Database> db;
  // Set when the store is PostgreSQL: this process is one replica of several.
  std::unique_ptr<ReplicaSet> replicas;
  std::unique_ptr<PeriodicThread> replica_thread;
  // Maintenance runs from the start again (this replica just took it over).
  std::atomic<bool> maintenance_fresh{true};
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<TokenManager> tokens;
  std::unique_ptr<storage::AuditLog> audit;
  std::unique_ptr<pipeline::PipelineManager> pipelines;
  std::unique_ptr<deploy::HttplibHttpClient> http;
  std::unique_ptr<deploy::ThreadPool> tasks;
  std::unique_ptr<deploy::ProcessDriver> process_driver;
  std::unique_ptr<deploy::CommandDriver> command_driver;
  std::unique_ptr<deploy::Router> router;
  std::unique_ptr<deploy::ContainerDriver> container_driver;
  std::unique_ptr<PeriodicThread> sweep_thread;
  std::unique_ptr<release::Executor> executor;
  std::unique_ptr<release::RunManager> runs;
  std::unique_ptr<release::StageManager> stages;
  std::unique_ptr<release::ResourceLogReader> resource_logs;
  std::unique_ptr<preview::RecordedSubjectStates> subjects;
  std::unique_ptr<preview::PreviewManager> previews;
  std::unique_ptr<StepThread> preview_thread;
  std::unique_ptr<PreviewServiceImpl> preview_service;
  std::unique_ptr<trigger::WebhookIntake> intake;
  std::unique_ptr<gitops::GitFiles> git_files;
  std::unique_ptr<gitops::GitOps> gitops;
  std::unique_ptr<trigger::Scheduler> scheduler;
  std::unique_ptr<StepThread> scheduler_thread;
  std::unique_ptr<trigger::Libgit2RefLister> ref_lister;
  std::unique_ptr<trigger::Poller> poller;
  std::unique_ptr<PeriodicThread> poller_thread;
  std::unique_ptr<StepThread> executor_thread;
  std::unique_ptr<PeriodicThread> supervisor_thread;
  std::unique_ptr<ReleaseServiceImpl> release_service;
  std::unique_ptr<DeliveryServiceImpl> delivery_service;
  std::unique_ptr<PipelineServiceImpl> pipeline_service;
  std::unique_ptr<AdminServiceImpl> admin_service;
  std::unique_ptr<AuditServiceImpl> audit_service;
  std::unique_ptr<grpc::Service> reflection_v1;
  std::unique_ptr<HealthServiceImpl> health_service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<ConnectGateway> connect;
  std::unique_ptr<HttpRoutes> routes;
  std::unique_ptr<HttpEdge> http_edge;
  // Lets the browser API's gateway pass on its clients' addresses (CallDeps::gateway_key).
  std::string gateway_key;
  int grpc_port = 0;
  int http_port = 0;
  std::atomic<bool> ready{false};
  absl::Mutex shutdown_mu;
  bool shut_down ABSL_GUARDED_BY(shutdown_mu) = false;
  std::thread maintenance_thread;

  // Runs `fn` where the work `work` belongs: always on a single slipwayd, on the replica that
  // owns it when several share the store.
  void RunOwned(const char* work, const std::function<void()>& fn) {
    if (replicas == nullptr) {
      fn();
    } else {
      replicas->RunIfOwner(work, fn);
    }
  }

  // Drives maintenance until shutdown, where this process owns it: first pipelines kept in Git
  // catch up with their branches (an edit pushed just before a crash, and not stored, is taken
  // from Git), then a round of retention every 10 minutes. The steps take the injected clock;
  // only this loop waits in real time.
  void MaintenanceLoop(const Clock* clock) {
    absl::Time last_round = absl::InfinitePast();
    absl::MutexLock lock(&shutdown_mu);
    while (!shut_down) {
      shutdown_mu.Unlock();
      RunOwned("maintenance", [&] {
        if (maintenance_fresh.exchange(false)) {
          gitops->SyncAll();
          last_round = absl::InfinitePast();
        }
        if (clock->Now() - last_round >= absl::Minutes(10)) {
          MaintainOnce(MaintenanceDeps{db.get(), audit.get(), clock, options.delivery_retention,
                                       options.delivery_keep, options.audit_retention});
          last_round = clock->Now();
        }
      });
      shutdown_mu.Lock();
      shutdown_mu.AwaitWithTimeout(absl::Condition(&shut_down),
                                   replicas == nullptr ? absl::Minutes(10) : absl::Seconds(1));
    }
  }

  // With a PostgreSQL store: this process joins the replicas sharing it.
  absl::Status JoinReplicas(const Clock* clock, IdGenerator* ids, const std::string& host) {
    ReplicaSetOptions o;
    o.self.set_id(absl::StrCat(host, "-", ids->RandomHex(3)));
    o.self.set_version(Version());
    *o.self.mutable_start_time() = ProtoTime(clock->Now());
    o.lease = options.replica_lease;
    for (const char* w : kReplicaWork) o.work.push_back(w);
    ReplicaHooks hooks;
    hooks.adopt_runs = [this](const std::string& from) { return executor->Adopt(from); };
    hooks.work_taken = [this](const std::string& work) {
      if (work == "scheduler") scheduler->Resync();
      if (work == "poller") poller->Resync();
      if (work == "maintenance") maintenance_fresh = true;
    };
    hooks.lost = [this](const absl::Status& why) {
      ready = false;
      if (options.on_lease_lost) options.on_lease_lost(why);
    };
    hooks.active_runs = [this] { return executor == nullptr ? 0 : executor->ActiveRuns(); };
    replicas = std::make_unique<ReplicaSet>(db.get(), clock, std::move(o), std::move(hooks));
    RETURN_IF_ERROR(replicas->Join());
    spdlog::info("replica {}: joined the replicas of {} (lease {})", replicas->id(), db->name(),
                 absl::FormatDuration(options.replica_lease));
    return absl::OkStatus();
  }

  // The container driver and its router, when --container-host is set. An engine that does not
  // answer is reported, not fatal: deploys then fail naming the socket.
  absl::Status StartContainerDriver() {
    if (options.router != "" && options.router != "caddy") {
      return absl::InvalidArgumentError(
          absl::StrCat("--router: \"", options.router, "\" is not a router (known: caddy)"));
    }
    if (options.container_host.empty()) {
      if (!options.router.empty()) {
        return absl::InvalidArgumentError(
            "--router: needs --container-host (routes lead to containers)");
      }
      return absl::OkStatus();
    }
    if (!absl::StartsWith(options.container_host, "unix://") &&
        !absl::StartsWith(options.container_host, "/")) {
      return absl::InvalidArgumentError(absl::StrCat("--container-host: \"", options.container_host,
                                                     "\" is not unix:///path/to/socket"));
    }
    deploy::ContainerDriverOptions o;
    o.host = options.container_host;
    o.health_wait = options.container_health_wait;
    o.sweep_max_share = options.reconcile_max_share;
    RETURN_IF_ERROR(MakePrivateDir(options.data_dir + "/container"));
    ASSIGN_OR_RETURN(o.controller_id, deploy::LoadControllerId(options.data_dir + "/container"));
    if (options.router == "caddy") {
      if (options.preview_domain.empty()) {
        return absl::InvalidArgumentError("--preview-domain: required with --router");
      }
      for (const std::string& label :
           std::vector<std::string>(absl::StrSplit(options.preview_domain, '.'))) {
        if (!CheckDnsLabel(label).ok()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--preview-domain: \"", options.preview_domain, "\" is not a domain name"));
        }
      }
      router = std::make_unique<deploy::CaddyRouter>(options.router_admin, options.router_server);
      if (auto routes = router->List("slipway."); !routes.ok()) {
        if (absl::IsInvalidArgument(routes.status())) {
          return absl::InvalidArgumentError(
              absl::StrCat("--router-admin: ", routes.status().message()));
        }
        spdlog::warn("{}", std::string(routes.status().message()));
      }
      o.router = router.get();
      o.domain = options.preview_domain;
    }
    container_driver = std::make_unique<deploy::ContainerDriver>(o, http.get());
    auto version = container_driver->Ping();
    if (version.ok()) {
      spdlog::info("container driver: engine {} at {} (controller id {})", *version,
                   options.container_host, o.controller_id);
    } else {
      spdlog::warn("container driver: {}", std::string(version.status().message()));
    }
    return absl::OkStatus();
  }

  void SweepContainersOnce() {
    deploy::SweepReport r = SweepContainers(*db, *container_driver);
    if (!r.refused.empty()) {
      spdlog::warn("container sweep: {}", r.refused);
    } else if (r.removed_containers + r.removed_networks + r.removed_volumes + r.routes_added +
                   r.routes_removed >
               0) {
      spdlog::info(
          "container sweep: removed {} container(s), {} network(s), {} volume(s) nothing owns; "
          "routes: {} put back, {} removed",
          r.removed_containers, r.removed_networks, r.removed_volumes, r.routes_added,
          r.routes_removed);
    }
  }

  absl::Status StartHttp(const HostPort& hp) {
    // The browser API calls the gRPC services in process: same code, auth and audit.
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    ConnectGatewayOptions gateway;
    gateway.peer_key = gateway_key;
    connect = std::make_unique<ConnectGateway>(grpc_server->InProcessChannel(args), gateway);
    routes = std::make_unique<HttpRoutes>(HttpRoutes::Deps{
        .intake = intake.get(),
        .metrics = metrics.get(),
        .db = db.get(),
        .previews = previews.get(),
        .connect = connect.get(),
        .serving = [this] { return ready.load(); },
        .edge_stats =
            [this] { return http_edge != nullptr ? http_edge->Stats() : HttpEdgeStats(); }});
    HttpEdgeOptions edge = options.http;
    edge.host = hp.host;
    edge.port = hp.port;
    edge.tls_cert = options.tls_cert;
    edge.tls_key = options.tls_key;
    edge.max_body_bytes = options.max_webhook_bytes;
    edge.max_handler_threads = std::max(1, options.http_threads);
    HttpRoutes* r = routes.get();
    ASSIGN_OR_RETURN(http_edge, HttpEdge::Start(
                                    edge, [r](const HttpRequest& head) { return r->Head(head); },
                                    [r](HttpRequest& request) { return r->Handle(request); }));
    http_port = http_edge->port();
    return absl::OkStatus();
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

int Server::grpc_port() const { return impl_->grpc_port; }
int Server::http_port() const { return impl_->http_port; }
HttpEdgeStats Server::http_stats() const { return impl_->http_edge->Stats(); }

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      const Clock* clock, IdGenerator* ids) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.data_dir.empty()) return absl::InvalidArgumentError("--data-dir: required");
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key: give both or neither");
  }
  ASSIGN_OR_RETURN(HostPort grpc_hp, ParseListen("--grpc-listen", options.grpc_listen));
  ASSIGN_OR_RETURN(HostPort http_hp, ParseListen("--http-listen", options.http_listen));
  if (::mkdir(options.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("--data-dir: cannot create ", options.data_dir, ": ", strerror(errno)));
  }
  if (unsigned open = OpenToOthers(options.data_dir); open != 0) {
    // Not changed behind the operator's back (it may be shared on purpose), but said: what is
    // inside is private either way.
    spdlog::warn(
        "data dir {} is open to other users (group and other bits {:03o}); its files "
        "are kept 0600, but `chmod 700 {}` closes it",
        options.data_dir, open, options.data_dir);
  }
  // Secrets are sealed at rest under a key kept outside the database. A database that has no
  // key recorded yet (new, or written before keys) is sealed and compacted now.
  const std::string key_file = options.secret_key_file.empty()
                                   ? DefaultSecretKeyPath(options.data_dir)
                                   : options.secret_key_file;
  ASSIGN_OR_RETURN(
      SecretBox box,
      SecretBox::FromKeyFile(key_file, /*create_if_missing=*/options.secret_key_file.empty()));
  auto secrets = std::make_shared<const SecretBox>(std::move(box));
  ASSIGN_OR_RETURN(storage::DatabaseOptions db_options,
                   storage::StoreOptions(options.store, DatabasePath(options.data_dir)));
  db_options.vfs = options.sqlite_vfs;
  db_options.secrets = secrets;
  ASSIGN_OR_RETURN(impl->db, storage::Database::Open(db_options));
  spdlog::info("store: {} (schema version {})", impl->db->name(), impl->db->schema_version());
  RETURN_IF_ERROR(storage::CheckSecretKey(*impl->db, *secrets));
  ASSIGN_OR_RETURN(bool sealed_before, storage::SecretsSealed(*impl->db));
  if (!sealed_before) {
    ASSIGN_OR_RETURN(int64_t rows, storage::SealStoredSecrets(*impl->db, *secrets));
    if (rows > 0) {
      RETURN_IF_ERROR(impl->db->Compact());
      spdlog::info("sealed the secrets of {} stored rows under key {}", rows, secrets->key_id());
    }
  }
  if (impl->db->backend() == storage::Backend::kPostgres) {
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == 0) std::strcpy(host, "slipwayd");
    RETURN_IF_ERROR(impl->JoinReplicas(clock, ids, host));
  }
  impl->metrics = std::make_unique<Metrics>();
  impl->tokens = std::make_unique<TokenManager>(impl->db.get(), clock, ids);
  impl->audit = std::make_unique<storage::AuditLog>(impl->db.get(), clock);
  if (!options.audit_file.empty()) RETURN_IF_ERROR(impl->audit->ShipTo(options.audit_file));
  std::string given_token;
  if (!options.admin_token_file.empty()) {
    std::ifstream in(options.admin_token_file);
    if (!in) {
      return absl::FailedPreconditionError(
          absl::StrCat("admin_token_file: cannot read ", options.admin_token_file));
    }
    given_token.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (given_token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("admin_token_file: ", options.admin_token_file, " is empty"));
    }
  }
  ASSIGN_OR_RETURN(bool bootstrapped, impl->tokens->BootstrapAdminToken(
                                          AdminTokenPath(options.data_dir), given_token));
  if (bootstrapped && given_token.empty()) {
    spdlog::info("new data dir: admin token written to {}", AdminTokenPath(options.data_dir));
  } else if (bootstrapped) {
    spdlog::info("new data dir: the admin token of {} stored", options.admin_token_file);
  }
  impl->pipelines = std::make_unique<pipeline::PipelineManager>(impl->db.get(), clock, ids);

  impl->http = std::make_unique<deploy::HttplibHttpClient>(
      deploy::HttpClientOptions::FromEnvironment(), clock);
  impl->tasks = std::make_unique<deploy::ThreadPool>(std::max(1, options.task_threads));
  deploy::ProcessDriverOptions process_options;
  process_options.state_dir = options.data_dir + "/process";
  // For crash tests: SLIPWAY_FAILPOINT=process.after_spawn kills slipwayd right after it
  // spawns a service and before it records the pid.
  if (const char* fp = std::getenv("SLIPWAY_FAILPOINT");
      fp != nullptr && std::string_view(fp) == "process.after_spawn") {
    process_options.after_spawn = [] {
      ::raise(SIGKILL);
      return absl::OkStatus();
    };
  }
  impl->process_driver =
      std::make_unique<deploy::ProcessDriver>(process_options, clock, impl->http.get());
  RETURN_IF_ERROR(impl->process_driver->Load());
  if (int strays = impl->process_driver->strays_stopped(); strays > 0) {
    spdlog::warn("process driver: stopped {} process group(s) left from before the restart",
                 strays);
  }
  impl->command_driver = std::make_unique<deploy::CommandDriver>();
  RETURN_IF_ERROR(impl->StartContainerDriver());
  release::ExecutorDeps exec;
  exec.db = impl->db.get();
  exec.clock = clock;
  exec.ids = ids;
  exec.drivers = {{"process", impl->process_driver.get()}, {"command", impl->command_driver.get()}};
  if (impl->container_driver != nullptr) exec.drivers["container"] = impl->container_driver.get();
  for (const auto& [name, driver] : options.driver_overrides) exec.drivers[name] = driver;
  exec.http = impl->http.get();
  exec.tasks = impl->tasks.get();
  // What each kind of flow step does: one file per kind in release/nodes/.
  exec.node_kinds = release::BuiltinNodeKinds();
  if (impl->replicas != nullptr) exec.replica = impl->replicas->id();
  Impl* self = impl.get();
  exec.on_run_ended = [self] {
    if (self->previews != nullptr) self->previews->Notify();
  };
  exec.on_commit = [metrics = impl->metrics.get()](const release::CommitReport& report) {
    for (const auto& [id, run] : *report.runs) {
      double seconds = -1;
      auto start = TimeFromProto(run.has_start_time() ? run.start_time() : run.create_time());
      auto end = TimeFromProto(run.end_time());
      if (start.has_value() && end.has_value()) seconds = absl::ToDoubleSeconds(*end - *start);
      const bool ended = RunEnded(run.state());
      std::vector<std::pair<std::string, double>> nodes;
      if (ended) {
        for (const v1::NodeStatus& n : run.nodes()) {
          auto node_start = TimeFromProto(n.start_time());
          auto node_end = TimeFromProto(n.end_time());
          if (!node_start.has_value() || !node_end.has_value()) continue;  // never ran
          nodes.emplace_back(
              EnumShortName(v1::NodeState_descriptor()->FindValueByNumber(n.state())),
              absl::ToDoubleSeconds(*node_end - *node_start));
        }
      }
      metrics->ObserveRun(id, run.pipeline(), run.stage(),
                          EnumShortName(v1::RunKind_descriptor()->FindValueByNumber(run.kind())),
                          EnumShortName(v1::RunState_descriptor()->FindValueByNumber(run.state())),
                          ended, seconds, nodes);
    }
    for (const auto& release : *report.releases) {
      metrics->ObserveRelease(release.pipeline(), release.stage());
    }
    metrics->ObserveCommit(report.events, report.seconds, report.active_runs);
  };
  impl->executor = std::make_unique<release::Executor>(exec);
  RETURN_IF_ERROR(impl->executor->Recover());
  if (int resumed = impl->executor->ActiveRuns(); resumed > 0) {
    spdlog::info("resuming {} unfinished run(s)", resumed);
  }
  impl->runs = std::make_unique<release::RunManager>(impl->db.get(), impl->executor.get());

  storage::AuditLog* audit = options.audit_trail ? impl->audit.get() : nullptr;
  impl->gateway_key = ids->RandomHex(32);
  CallDeps deps{impl->tokens.get(), impl->metrics.get(), audit, impl->gateway_key};
  impl->stages =
      std::make_unique<release::StageManager>(impl->db.get(), impl->executor.get(), clock);
  preview::PreviewDeps preview_deps;
  preview_deps.db = impl->db.get();
  preview_deps.clock = clock;
  preview_deps.ids = ids;
  preview_deps.executor = impl->executor.get();
  preview_deps.drivers = exec.drivers;
  preview_deps.tasks = impl->tasks.get();
  impl->subjects = std::make_unique<preview::RecordedSubjectStates>(impl->db.get());
  preview_deps.subjects = impl->subjects.get();
  preview_deps.audit = audit;
  preview_deps.on_transition = [metrics = impl->metrics.get()](v1::PreviewState from,
                                                               v1::PreviewState to) {
    metrics->ObservePreviewTransition(
        EnumShortName(v1::PreviewState_descriptor()->FindValueByNumber(from)),
        EnumShortName(v1::PreviewState_descriptor()->FindValueByNumber(to)));
  };
  preview::PreviewOptions preview_options;
  preview_options.reconcile_max_share = options.reconcile_max_share;
  preview_options.shared_store = impl->replicas != nullptr;
  impl->previews = std::make_unique<preview::PreviewManager>(preview_deps, preview_options);
  RETURN_IF_ERROR(impl->previews->Load());
  impl->preview_service =
      std::make_unique<PreviewServiceImpl>(deps, impl->previews.get(), impl->pipelines.get());
  impl->intake = std::make_unique<trigger::WebhookIntake>(impl->db.get(), impl->executor.get(),
                                                          clock, ids, impl->previews.get(), audit);
  impl->git_files = std::make_unique<gitops::GitFiles>(options.data_dir + "/gitops", clock);
  impl->gitops = std::make_unique<gitops::GitOps>(impl->db.get(), impl->pipelines.get(),
                                                  impl->git_files.get(), clock, audit);
  impl->pipelines->SetWriteBack(impl->gitops.get());
  impl->intake->SetPushHook(impl->gitops.get());
  impl->scheduler =
      std::make_unique<trigger::Scheduler>(impl->db.get(), impl->executor.get(), clock, audit);
  impl->ref_lister = std::make_unique<trigger::Libgit2RefLister>(options.data_dir + "/mirrors");
  impl->poller = std::make_unique<trigger::Poller>(impl->db.get(), impl->intake.get(),
                                                   impl->ref_lister.get(), clock);
  impl->delivery_service = std::make_unique<DeliveryServiceImpl>(deps, impl->intake.get());
  impl->resource_logs = std::make_unique<release::ResourceLogReader>(impl->db.get(), exec.drivers);
  impl->release_service = std::make_unique<ReleaseServiceImpl>(
      deps, impl->runs.get(), impl->stages.get(), impl->resource_logs.get());
  impl->pipeline_service =
      std::make_unique<PipelineServiceImpl>(deps, impl->pipelines.get(), impl->gitops.get());
  ServerInfoSource info{.version = Version(), .start_time = ProtoTime(clock->Now())};
  if (impl->replicas != nullptr) {
    info.storage = "postgres";
    info.replica = impl->replicas->id();
    info.replicas = [db = impl->db.get(), clock] { return ListReplicas(*db, *clock); };
  }
  impl->admin_service = std::make_unique<AdminServiceImpl>(deps, std::move(info));
  impl->audit_service = std::make_unique<AuditServiceImpl>(deps);
  impl->health_service = std::make_unique<HealthServiceImpl>();

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (!options.tls_cert.empty()) {
    grpc::SslServerCredentialsOptions ssl;
    ASSIGN_OR_RETURN(std::string cert, ReadFile("--tls-cert", options.tls_cert));
    ASSIGN_OR_RETURN(std::string key, ReadFile("--tls-key", options.tls_key));
    ssl.pem_key_cert_pairs.push_back({key, cert});
    creds = grpc::SslServerCredentials(ssl);
  } else {
    creds = grpc::InsecureServerCredentials();
  }
  std::string grpc_addr = grpc_hp.host.find(':') != std::string::npos
                              ? absl::StrCat("[", grpc_hp.host, "]:", grpc_hp.port)
                              : absl::StrCat(grpc_hp.host, ":", grpc_hp.port);
  builder.AddListeningPort(grpc_addr, creds, &impl->grpc_port);
  // A second daemon on the same port must fail, not silently share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(4 << 20);
  {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> chain;
    chain.push_back(MakeRedactionInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(chain));
  }
  builder.RegisterService(impl->pipeline_service.get());
  builder.RegisterService(impl->admin_service.get());
  builder.RegisterService(impl->audit_service.get());
  builder.RegisterService(impl->release_service.get());
  builder.RegisterService(impl->delivery_service.get());
  builder.RegisterService(impl->preview_service.get());
  builder.RegisterService(impl->health_service.get());
  // v1alpha comes from gRPC's plugin; v1 lists the same services, and both reflection ones.
  impl->reflection_v1 = MakeReflectionV1Service({
      v1::PipelineService::service_full_name(),
      v1::AdminService::service_full_name(),
      v1::AuditService::service_full_name(),
      v1::ReleaseService::service_full_name(),
      v1::DeliveryService::service_full_name(),
      v1::PreviewService::service_full_name(),
      grpc::health::v1::Health::service_full_name(),
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
  });
  builder.RegisterService(impl->reflection_v1.get());
  impl->grpc_server = builder.BuildAndStart();
  if (impl->grpc_server == nullptr || impl->grpc_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("--grpc-listen: cannot listen on ", options.grpc_listen));
  }
  absl::Status http = impl->StartHttp(http_hp);
  if (!http.ok()) {
    impl->grpc_server->Shutdown();
    return http;
  }
  impl->ready = true;
  Impl* raw = impl.get();
  if (impl->replicas != nullptr) {
    impl->replicas->SetAddresses(absl::StrCat(grpc_hp.host, ":", impl->grpc_port),
                                 absl::StrCat(http_hp.host, ":", impl->http_port));
    // Heartbeats, takeovers and the work shares; and what the other replicas changed, for the
    // background work that follows the pipeline change feed.
    impl->replica_thread = std::make_unique<PeriodicThread>(
        [raw] {
          if (absl::Status s = raw->replicas->Tick(); !s.ok() && !raw->replicas->lost()) {
            spdlog::warn("replica {}: {}", raw->replicas->id(), std::string(s.message()));
          }
          if (auto s = raw->db->FollowOtherWriters(); !s.ok()) {
            spdlog::debug("following other replicas: {}", std::string(s.status().message()));
          }
          // Runs another replica queued here, behind this replica's runs of their stage.
          if (raw->replicas->lost()) return;
          if (auto n = raw->executor->PickUp(); !n.ok()) {
            spdlog::debug("picking up runs: {}", std::string(n.status().message()));
          } else if (*n > 0) {
            spdlog::info("replica {}: picked up {} run(s) handed over by other replicas",
                         raw->replicas->id(), *n);
          }
        },
        impl->replicas->tick_interval());
  }
  impl->maintenance_thread = std::thread([raw, clock] { raw->MaintenanceLoop(clock); });
  impl->executor_thread = ExecutorThread(impl->executor.get(), clock);
  auto owned = [raw](const char* work) {
    return [raw, work](const std::function<void()>& fn) { raw->RunOwned(work, fn); };
  };
  impl->preview_thread =
      PreviewThread(impl->previews.get(), clock, options.reconcile_interval, owned("previews"));
  deploy::ProcessDriver* supervised = impl->process_driver.get();
  impl->supervisor_thread = std::make_unique<PeriodicThread>(
      [supervised] { supervised->Supervise(); }, absl::Milliseconds(500));
  impl->scheduler_thread = SchedulerThread(impl->scheduler.get(), clock, owned("scheduler"));
  if (impl->container_driver != nullptr) {
    // At start (re-adoption leaves duplicates and orphans of a crash to this), then periodically.
    if (options.container_sweep_interval > absl::ZeroDuration()) {
      impl->sweep_thread = std::make_unique<PeriodicThread>(
          [raw] { raw->RunOwned("sweep", [raw] { raw->SweepContainersOnce(); }); },
          options.container_sweep_interval);
    } else {
      impl->SweepContainersOnce();
    }
  }
  trigger::Poller* poller = impl->poller.get();
  impl->poller_thread = std::make_unique<PeriodicThread>(
      [raw, poller] {
        raw->RunOwned("poller", [poller] {
          if (auto r = poller->Tick(); !r.ok()) {
            spdlog::warn("polling: {}", std::string(r.status().message()));
          }
        });
      },
      absl::Seconds(1));
  bool tls = !options.tls_cert.empty();
  if (absl::Status s =
          WritePrivateFile(EndpointsPath(options.data_dir),
                           absl::StrCat("{\"grpc\": \"", grpc_hp.host, ":", impl->grpc_port,
                                        "\", \"http\": \"", http_hp.host, ":", impl->http_port,
                                        "\", \"tls\": ", tls ? "true" : "false", "}\n"));
      !s.ok()) {
    spdlog::warn("{}", std::string(s.message()));
  }
  spdlog::info("slipwayd serving gRPC on {}:{} and HTTP on {}:{}{} (data dir {})", grpc_hp.host,
               impl->grpc_port, http_hp.host, impl->http_port, tls ? " with TLS" : "",
               options.data_dir);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&impl_->shutdown_mu);
    if (impl_->shut_down) return;
    impl_->shut_down = true;
  }
  impl_->ready = false;
  impl_->health_service->Shutdown();
  impl_->grpc_server->Shutdown(std::chrono::system_clock::now() +
                               absl::ToChronoMilliseconds(grace));
  impl_->grpc_server->Wait();
  impl_->http_edge->Stop(grace);
  // Runs stop where they are; a restart resumes them from the store (or, with replicas, a live
  // replica adopts them once this one has left).
  impl_->replica_thread.reset();
  impl_->scheduler_thread.reset();
  impl_->poller_thread.reset();
  impl_->preview_thread.reset();
  impl_->executor_thread.reset();
  impl_->supervisor_thread.reset();
  impl_->sweep_thread.reset();
  impl_->tasks.reset();
  if (impl_->maintenance_thread.joinable()) impl_->maintenance_thread.join();
  if (impl_->replicas != nullptr && !impl_->replicas->lost()) impl_->replicas->Leave();
}

}  // namespace slipway::server
