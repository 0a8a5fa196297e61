// A private Podman API service for tests of the container driver: scripts/containers.conf
// (runc, explicit ulimits, netavark), its own socket in a temp dir, started with the fixture
// and stopped by pid with it. Test images are built locally (no registry is reachable):
// FROM scratch with busybox-static, serving /www on 8080.
#ifndef SLIPWAY_TESTS_TESTING_PODMAN_SERVICE_H_
#define SLIPWAY_TESTS_TESTING_PODMAN_SERVICE_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

extern char** environ;

namespace slipway::testing {

class PodmanService {
 public:
  PodmanService() {
    conf_ = std::string(SLIPWAY_SOURCE_DIR) + "/scripts/containers.conf";
    ::setenv("CONTAINERS_CONF", conf_.c_str(), 1);
    socket_ = dir_.File("podman.sock");
    const std::string where = "unix://" + socket_;
    std::vector<std::string> argv = {"podman", "system", "service", "--time=0", where};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string log = dir_.File("podman.log");
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawnp(&pid_, "podman", &actions, nullptr, args.data(), environ) != 0) pid_ = 0;
    posix_spawn_file_actions_destroy(&actions);
    const std::string probe =
        "curl -sf --unix-socket " + socket_ + " http://d/v1.41/version >/dev/null 2>&1";
    ready_ = pid_ > 0 &&
             WaitUntil([&] { return std::system(probe.c_str()) == 0; }, std::chrono::seconds(20));
  }
  ~PodmanService() {
    for (const auto& image : images_) Run("podman rmi -f " + image + " >/dev/null 2>&1");
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  PodmanService(const PodmanService&) = delete;
  PodmanService& operator=(const PodmanService&) = delete;

  bool ready() const { return ready_; }
  const std::string& socket() const { return socket_; }
  std::string host() const { return "unix://" + socket_; }

  // Builds `tag` with the given files in /www; true on success. Removed with the fixture.
  bool BuildImage(const std::string& tag, const std::map<std::string, std::string>& files) {
    TempDir ctx;
    std::filesystem::create_directories(ctx.File("www"));
    for (const auto& [name, content] : files) std::ofstream(ctx.File("www/" + name)) << content;
    // Every test image is distinct: two builds of the same files would share one image id, and
    // removing one test's tag would then remove another test's image.
    std::ofstream(ctx.File("www/.image")) << tag << " " << getpid() << "\n";
    std::filesystem::copy_file("/bin/busybox", ctx.File("busybox"));
    std::ofstream(ctx.File("Containerfile"))
        << "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\n"
           "ENTRYPOINT [\"/bin/busybox\"]\n"
           "CMD [\"httpd\", \"-f\", \"-v\", \"-p\", \"8080\", \"-h\", \"/www\"]\n";
    images_.push_back(tag);
    return Run("podman build -q -t " + tag + " " + ctx.path() + " >/dev/null 2>&1") == 0;
  }

  // Runs a shell command line (test set-up only; every argument here is the test's own).
  static int Run(const std::string& line) { return std::system(line.c_str()); }

 private:
  TempDir dir_;
  std::string conf_, socket_;
  pid_t pid_ = 0;
  bool ready_ = false;
  std::vector<std::string> images_;
};

}  // namespace slipway::testing

#endif  // SLIPWAY_TESTS_TESTING_PODMAN_SERVICE_H_
