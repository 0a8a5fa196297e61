#include "deploy/process_driver.h"

#include "common/private_files.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "deploy/subprocess.h"

namespace slipway::deploy {
namespace {

namespace fs = std::filesystem;

std::string ReadTail(const std::string& path, size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max) ? size - max : 0;
  in.seekg(start);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

struct ProcessDriver::Instance {
  absl::Mutex mu;
  std::string key;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string working_dir;
  std::string log_path;
  std::string health_path;
  std::string desired_hash;
  // Tags the process of the current start (SLIPWAY_PROCESS_TAG=<owner>:<nonce>).
  std::string nonce;
  // Recorded before a teardown stops anything.
  bool tearing_down = false;
  int port = 0;
  pid_t pid = 0;
  int64_t start_time = 0;
  int restarts = 0;
  // Set when the process was seen gone; it is started again at this time.
  std::optional<absl::Time> restart_at;

  bool Alive() const {
    if (pid <= 0) return false;
    auto t = ProcessStartTime(pid);
    return t.ok() && *t == start_time;
  }
  std::string Url() const { return absl::StrCat("http://127.0.0.1:", port); }
};

absl::StatusOr<int> AllocatePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return absl::UnavailableError("no free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

ProcessDriver::ProcessDriver(ProcessDriverOptions options, const Clock* clock, HttpClient* http)
    : options_(std::move(options)), clock_(clock), http_(http) {}

ProcessDriver::~ProcessDriver() = default;

std::string ProcessDriver::RecordPath(const std::string& key) const {
  return absl::StrCat(options_.state_dir, "/instances/", Sha256Hex(key).substr(0, 24), ".json");
}

absl::Status ProcessDriver::Save(const Instance& inst) {
  nlohmann::json j = {{"key", inst.key},          {"argv", inst.argv},
                      {"env", inst.env},          {"working_dir", inst.working_dir},
                      {"log_path", inst.log_path}, {"health_path", inst.health_path},
                      {"desired_hash", inst.desired_hash}, {"port", inst.port},
                      {"pid", inst.pid},          {"start_time", inst.start_time},
                      {"restarts", inst.restarts}, {"nonce", inst.nonce},
                      {"tearing_down", inst.tearing_down}};
  // Records carry each service's environment, which may hold credentials: 0600.
  return WritePrivateFile(RecordPath(inst.key), j.dump());
}

absl::Status ProcessDriver::Load() {
  // Records, logs and working dirs of services: readable by slipwayd's user only.
  for (const char* sub : {"", "/instances", "/logs", "/work"}) {
    if (absl::Status s = MakePrivateDir(options_.state_dir + sub); !s.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("process driver: ", s.message()));
    }
  }
  const std::string owner_path = options_.state_dir + "/owner";
  owner_ = ReadTail(owner_path, 64);
  if (owner_.empty()) {
    SecureIdGenerator ids;
    owner_ = ids.RandomHex(8);
    if (absl::Status s = WritePrivateFile(owner_path, owner_); !s.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("process driver: ", s.message()));
    }
  }
  absl::MutexLock lock(&mu_);
  for (const auto& entry : fs::directory_iterator(options_.state_dir + "/instances")) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;
    auto inst = std::make_shared<Instance>();
    absl::MutexLock il(&inst->mu);
    inst->key = j.value("key", "");
    inst->argv = j.value("argv", std::vector<std::string>{});
    inst->env = j.value("env", std::map<std::string, std::string>{});
    inst->working_dir = j.value("working_dir", "");
    inst->log_path = j.value("log_path", "");
    inst->health_path = j.value("health_path", "");
    inst->desired_hash = j.value("desired_hash", "");
    inst->port = j.value("port", 0);
    inst->pid = j.value("pid", 0);
    inst->start_time = j.value("start_time", int64_t{0});
    inst->restarts = j.value("restarts", 0);
    inst->nonce = j.value("nonce", "");
    inst->tearing_down = j.value("tearing_down", false);
    if (inst->key.empty()) continue;
    if (!inst->Alive()) inst->restart_at = clock_->Now();
    instances_[inst->key] = inst;
  }
  StopStraysLocked();
  return absl::OkStatus();
}

void ProcessDriver::StopStraysLocked() {
  std::map<std::string, pid_t> live;  // nonce -> the recorded, live leader
  for (auto& [key, inst] : instances_) {
    absl::MutexLock il(&inst->mu);
    if (!inst->tearing_down && !inst->nonce.empty() && inst->Alive()) live[inst->nonce] = inst->pid;
  }
  std::vector<pid_t> groups;
  for (const MarkedProcess& p : FindProcessesByEnv(kProcessTagVariable, owner_ + ":")) {
    std::string nonce = p.value.substr(owner_.size() + 1);
    auto it = live.find(nonce);
    if (it != live.end() && it->second == p.pgid) continue;  // the service or its children
    groups.push_back(p.pgid);
  }
  // A teardown that was interrupted is finished: whatever it had not stopped is stopped now.
  for (auto it = instances_.begin(); it != instances_.end();) {
    bool finished = false;
    {
      absl::MutexLock il(&it->second->mu);
      Instance& inst = *it->second;
      if (inst.tearing_down) {
        if (inst.Alive()) groups.push_back(inst.pid);
        std::error_code ec;
        fs::remove(RecordPath(inst.key), ec);
        fs::remove(inst.log_path, ec);
        finished = true;
      }
    }
    it = finished ? instances_.erase(it) : std::next(it);
  }
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  StopProcessGroups(groups, options_.stray_grace);
  strays_stopped_ = static_cast<int>(groups.size());
}

std::shared_ptr<ProcessDriver::Instance> ProcessDriver::Find(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = instances_.find(key);
  return it == instances_.end() ? nullptr : it->second;
}

absl::Status ProcessDriver::StartLocked(Instance& inst) {
  std::error_code ec;
  if (fs::exists(inst.log_path, ec) &&
      static_cast<int64_t>(fs::file_size(inst.log_path, ec)) > options_.max_log_bytes) {
    fs::resize_file(inst.log_path, 0, ec);
  }
  // The intent first: a crash after the spawn then leaves a record naming the tag of a process
  // whose pid was never written, and the next Load stops it.
  SecureIdGenerator ids;
  inst.nonce = ids.RandomHex(8);
  inst.pid = 0;
  inst.start_time = 0;
  RETURN_IF_ERROR(Save(inst));
  SpawnOptions spawn{inst.argv, inst.env, inst.working_dir, inst.log_path};
  spawn.env[kProcessTagVariable] = Tag(inst.nonce);
  ASSIGN_OR_RETURN(pid_t pid, Spawn(spawn));
  if (options_.after_spawn) RETURN_IF_ERROR(options_.after_spawn());
  inst.pid = pid;
  auto start = ProcessStartTime(pid);
  inst.start_time = start.ok() ? *start : 0;
  inst.restart_at.reset();
  return Save(inst);
}

absl::StatusOr<DeployResult> ProcessDriver::Apply(const DeployRequest& request) {
  const auto& p = request.spec.process();
  if (p.command_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(request.key, ": process.command is empty"));
  }
  std::shared_ptr<Instance> inst;
  {
    absl::MutexLock lock(&mu_);
    auto& slot = instances_[request.key];
    if (slot == nullptr) {
      slot = std::make_shared<Instance>();
      slot->key = request.key;
    }
    inst = slot;
  }
  absl::MutexLock il(&inst->mu);
  if (inst->port == 0) {
    ASSIGN_OR_RETURN(inst->port, AllocatePort());
  }
  std::string slug = Sha256Hex(request.key).substr(0, 24);
  std::vector<std::string> argv(p.command().begin(), p.command().end());
  std::map<std::string, std::string> env = BaseEnvironment();
  for (const auto& [k, v] : p.env()) env[k] = v;
  for (const auto& [k, v] : request.env) env[k] = v;
  env["PORT"] = absl::StrCat(inst->port);
  std::string working_dir =
      p.working_dir().empty() ? absl::StrCat(options_.state_dir, "/work/", slug) : p.working_dir();
  std::error_code ec;
  fs::create_directories(working_dir, ec);
  nlohmann::json desired = {{"argv", argv}, {"env", env}, {"cwd", working_dir}};
  std::string hash = Sha256Hex(desired.dump());
  DeployResult result;
  auto fill = [&] {
    result.status = {{"pid", absl::StrCat(inst->pid)},
                     {"port", absl::StrCat(inst->port)},
                     {"url", inst->Url()},
                     {"log", inst->log_path}};
  };
  if (hash == inst->desired_hash && inst->Alive()) {
    fill();
    return result;  // already running exactly this
  }
  if (inst->Alive()) StopProcessGroup(inst->pid, options_.stop_grace);
  inst->argv = std::move(argv);
  inst->env = std::move(env);
  inst->working_dir = working_dir;
  inst->log_path = absl::StrCat(options_.state_dir, "/logs/", slug, ".log");
  inst->health_path = p.health().http_path();
  inst->desired_hash = hash;
  inst->restarts = 0;
  RETURN_IF_ERROR(StartLocked(*inst));
  if (WaitForExit(inst->pid, options_.startup_watch)) {
    inst->restart_at = clock_->Now() + options_.restart_backoff;
    return absl::UnavailableError(absl::StrCat(request.key, ": process exited at once; log: ",
                                               ReadTail(inst->log_path, 1024)));
  }
  fill();
  return result;
}

absl::StatusOr<bool> ProcessDriver::Healthy(const DeployRequest& request) {
  std::shared_ptr<Instance> inst = Find(request.key);
  if (inst == nullptr) return false;
  std::string url;
  {
    absl::MutexLock il(&inst->mu);
    if (!inst->Alive()) return false;
    if (inst->health_path.empty()) return true;
    url = inst->Url() + inst->health_path;
  }
  HttpRequest req;
  req.url = url;
  req.timeout = absl::Seconds(2);
  auto resp = http_->Send(req);
  return resp.ok() && resp->status >= 200 && resp->status < 400;
}

absl::StatusOr<JobResult> ProcessDriver::RunJob(const DeployRequest& request,
                                                const std::vector<std::string>& extra_args,
                                                absl::Duration timeout) {
  const auto& p = request.spec.process();
  SpawnOptions spawn;
  spawn.argv.assign(p.command().begin(), p.command().end());
  spawn.argv.insert(spawn.argv.end(), extra_args.begin(), extra_args.end());
  spawn.env = BaseEnvironment();
  for (const auto& [k, v] : p.env()) spawn.env[k] = v;
  for (const auto& [k, v] : request.env) spawn.env[k] = v;
  // Jobs are not recorded: one still running when slipwayd restarts is a stray.
  SecureIdGenerator ids;
  spawn.env[kProcessTagVariable] = Tag("job-" + ids.RandomHex(8));
  spawn.working_dir = p.working_dir();
  ASSIGN_OR_RETURN(CommandResult r, RunCommand(spawn, timeout));
  if (r.timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(request.key, ": job did not finish within ", absl::FormatDuration(timeout)));
  }
  return JobResult{r.exit_code, std::move(r.output)};
}

absl::Status ProcessDriver::Teardown(const DeployRequest& request) {
  std::shared_ptr<Instance> inst;
  {
    absl::MutexLock lock(&mu_);
    auto it = instances_.find(request.key);
    if (it == instances_.end()) return absl::OkStatus();
    inst = it->second;
    instances_.erase(it);
  }
  absl::Status saved;
  {
    absl::MutexLock il(&inst->mu);
    inst->tearing_down = true;
    saved = Save(*inst);
    if (saved.ok()) {
      if (inst->Alive()) StopProcessGroup(inst->pid, options_.stop_grace);
      std::error_code ec;
      fs::remove(RecordPath(inst->key), ec);
      fs::remove(inst->log_path, ec);
      inst->pid = 0;
      return absl::OkStatus();
    }
    inst->tearing_down = false;
  }
  // Nothing was stopped: the instance stays managed.
  absl::MutexLock lock(&mu_);
  instances_.emplace(inst->key, inst);
  return saved;
}

int ProcessDriver::Supervise() {
  std::vector<std::shared_ptr<Instance>> all;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [k, v] : instances_) all.push_back(v);
  }
  int started = 0;
  const absl::Time now = clock_->Now();
  for (auto& inst : all) {
    absl::MutexLock il(&inst->mu);
    if (inst->argv.empty()) continue;
    std::error_code ec;
    if (!inst->log_path.empty() &&
        static_cast<int64_t>(fs::file_size(inst->log_path, ec)) > options_.max_log_bytes && !ec) {
      fs::resize_file(inst->log_path, 0, ec);
    }
    if (inst->Alive()) continue;
    if (inst->pid > 0) WaitForExit(inst->pid, absl::ZeroDuration());  // reap our child
    if (!inst->restart_at.has_value()) {
      absl::Duration backoff = options_.restart_backoff;
      for (int i = 0; i < inst->restarts && backoff < options_.max_restart_backoff; ++i) {
        backoff *= 2;
      }
      inst->restart_at = now + std::min(backoff, options_.max_restart_backoff);
      continue;
    }
    if (now < *inst->restart_at) continue;
    ++inst->restarts;
    if (StartLocked(*inst).ok()) ++started;
  }
  return started;
}

std::optional<pid_t> ProcessDriver::PidOf(const std::string& key) {
  std::shared_ptr<Instance> inst = Find(key);
  if (inst == nullptr) return std::nullopt;
  absl::MutexLock il(&inst->mu);
  if (!inst->Alive()) return std::nullopt;
  return inst->pid;
}

std::vector<std::string> ProcessDriver::Keys() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [k, v] : instances_) out.push_back(k);
  return out;
}

}  // namespace slipway::deploy
