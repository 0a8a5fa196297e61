#include "deploy/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace slipway::deploy {
namespace {

// glibc 2.36's <sys/pidfd.h> lacks C linkage guards for C++; call the system call directly.
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

constexpr size_t kMaxCapturedOutput = 64 * 1024;

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

absl::StatusOr<pid_t> SpawnWithFd(const SpawnOptions& options, int out_fd) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return absl::InvalidArgumentError("command: empty argv");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (out_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  }
  if (!options.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, options.working_dir.c_str());
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> argv = options.argv;
  std::vector<std::string> env;
  for (const auto& [k, v] : options.env) env.push_back(k + "=" + v);
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  pid_t pid = 0;
  // posix_spawnp searches PATH of *this* process for a bare program name.
  int rc = posix_spawnp(&pid, c_argv[0], &actions, &attr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc == ENOENT) {
    return absl::NotFoundError(absl::StrCat("command: \"", options.argv[0], "\" not found"));
  }
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("command: cannot start \"", options.argv[0], "\": ", std::strerror(rc)));
  }
  return pid;
}

}  // namespace

std::map<std::string, std::string> BaseEnvironment() {
  std::map<std::string, std::string> env;
  for (const char* name : {"PATH", "HOME", "LANG", "TZ"}) {
    if (const char* v = std::getenv(name); v != nullptr) env[name] = v;
  }
  if (!env.contains("PATH")) env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  return env;
}

absl::StatusOr<pid_t> Spawn(const SpawnOptions& options) {
  int fd = -1;
  if (!options.log_path.empty()) {
    fd = ::open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
      return absl::InternalError(
          absl::StrCat("cannot open log ", options.log_path, ": ", std::strerror(errno)));
    }
  }
  auto pid = SpawnWithFd(options, fd);
  if (fd >= 0) ::close(fd);
  return pid;
}

absl::StatusOr<int64_t> ProcessStartTime(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  if (!in) return absl::NotFoundError(absl::StrCat("no process ", pid));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string stat = ss.str();
  // The command name (field 2) may contain spaces; fields after it follow the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return absl::NotFoundError("malformed stat");
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  // fields[0] is field 3 (state); field 22 is fields[19].
  int64_t start = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &start)) {
    return absl::NotFoundError("malformed stat");
  }
  if (fields[0] == "Z") return absl::NotFoundError(absl::StrCat("process ", pid, " has exited"));
  return start;
}

bool WaitForExit(pid_t pid, absl::Duration timeout) {
  int fd = PidfdOpen(pid);
  if (fd < 0) return true;  // no such process
  pollfd p{fd, POLLIN, 0};
  int rc = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  ::close(fd);
  if (rc == 0) return false;
  // Reap it if it is our child; for adopted processes this fails harmlessly.
  ::waitpid(pid, nullptr, WNOHANG);
  return true;
}

void StopProcessGroup(pid_t pid, absl::Duration grace) {
  if (pid <= 0) return;
  ::kill(-pid, SIGTERM);
  ::kill(pid, SIGTERM);
  if (!WaitForExit(pid, grace)) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    WaitForExit(pid, absl::Seconds(5));
  }
  // Children of the service that outlived it in the group.
  ::kill(-pid, SIGKILL);
}

absl::StatusOr<CommandResult> RunCommand(const SpawnOptions& options, absl::Duration timeout) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  auto pid = SpawnWithFd(options, fds[1]);
  ::close(fds[1]);
  if (!pid.ok()) {
    ::close(fds[0]);
    return pid.status();
  }
  int pidfd = PidfdOpen(*pid);
  CommandResult result;
  std::string output;
  // Deadline by the monotonic clock of poll timeouts, counted down as we wait.
  int64_t remaining_ms = absl::ToInt64Milliseconds(timeout);
  bool pipe_open = true, exited = false;
  while ((pipe_open || !exited) && remaining_ms > 0) {
    pollfd p[2] = {{fds[0], POLLIN, 0}, {pidfd, POLLIN, 0}};
    int wait_ms = static_cast<int>(std::min<int64_t>(remaining_ms, 100));
    int rc = ::poll(pipe_open ? p : p + 1, pipe_open ? 2 : 1, wait_ms);
    if (rc == 0) {
      remaining_ms -= wait_ms;
      continue;
    }
    if (pipe_open && (p[0].revents & (POLLIN | POLLHUP))) {
      char buf[4096];
      ssize_t n = ::read(fds[0], buf, sizeof(buf));
      if (n <= 0) {
        pipe_open = false;
      } else {
        output.append(buf, n);
        if (output.size() > kMaxCapturedOutput) {
          output.erase(0, output.size() - kMaxCapturedOutput);
        }
      }
    }
    if (p[1].revents & POLLIN) exited = true;
    if (exited && !pipe_open) break;
    if (exited && pipe_open) {
      // The process is gone; drain what is left without waiting for grandchildren.
      pollfd d{fds[0], POLLIN, 0};
      if (::poll(&d, 1, 0) <= 0) break;
    }
  }
  ::close(fds[0]);
  if (!exited) {
    result.timed_out = true;
    StopProcessGroup(*pid, absl::Seconds(2));
  }
  int status = 0;
  ::waitpid(*pid, &status, 0);
  if (pidfd >= 0) ::close(pidfd);
  ::kill(-*pid, SIGKILL);  // nothing the command started outlives it
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (result.timed_out) result.exit_code = 124;
  result.output = std::move(output);
  return result;
}

namespace {

// Field 5 of /proc/<pid>/stat, or 0.
pid_t ProcessGroupOf(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string stat = ss.str();
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return 0;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  int pgid = 0;
  if (fields.size() < 3 || fields[0] == "Z" || !absl::SimpleAtoi(fields[2], &pgid)) return 0;
  return pgid;
}

}  // namespace

std::vector<MarkedProcess> FindProcessesByEnv(const std::string& name,
                                              const std::string& value_prefix) {
  std::vector<MarkedProcess> out;
  const std::string needle = name + "=" + value_prefix;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid) || pid <= 0) continue;
    std::ifstream in(entry.path() / "environ", std::ios::binary);
    if (!in) continue;
    std::string var;
    while (std::getline(in, var, '\0')) {
      if (var.compare(0, needle.size(), needle) != 0) continue;
      pid_t pgid = ProcessGroupOf(pid);
      if (pgid > 0) out.push_back({pid, pgid, var.substr(name.size() + 1)});
      break;
    }
  }
  return out;
}

void StopProcessGroups(const std::vector<pid_t>& pgids, absl::Duration grace) {
  // SIGTERM to all first, so that their graces overlap; then each leader gets up to `grace` to
  // exit before its group is killed.
  for (pid_t g : pgids) {
    if (g > 1) ::kill(-g, SIGTERM);
  }
  for (pid_t g : pgids) {
    if (g <= 1) continue;
    WaitForExit(g, grace);
    ::kill(-g, SIGKILL);
    WaitForExit(g, absl::ZeroDuration());
  }
}

}  // namespace slipway::deploy
