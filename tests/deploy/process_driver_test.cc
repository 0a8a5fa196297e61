// The process and command drivers with real child processes and real HTTP.
#include "deploy/process_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "deploy/command_driver.h"
#include "deploy/httplib_http_client.h"
#include "deploy/subprocess.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace slipway::deploy {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

bool ProcessExists(pid_t pid) { return ProcessStartTime(pid).ok(); }

class ProcessDriverTest : public ::testing::Test {
 protected:
  void SetUp() override { NewDriver(); }
  void TearDown() override {
    for (const auto& key : driver_->Keys()) {
      DeployRequest r;
      r.key = key;
      driver_->Teardown(r).IgnoreError();
    }
  }
  void NewDriver(std::function<absl::Status()> after_spawn = nullptr) {
    driver_ = MakeDriver(std::move(after_spawn));
    ASSERT_OK(driver_->Load());
  }
  std::unique_ptr<ProcessDriver> MakeDriver(std::function<absl::Status()> after_spawn = nullptr) {
    ProcessDriverOptions o;
    o.state_dir = dir_.File("state");
    o.stop_grace = absl::Seconds(2);
    o.stray_grace = absl::Seconds(1);
    o.after_spawn = std::move(after_spawn);
    return std::make_unique<ProcessDriver>(o, &clock_, &http_);
  }
  // The processes tagged by this test's driver, found the way a restarted driver finds them.
  std::vector<MarkedProcess> Tagged() {
    std::ifstream in(dir_.File("state/owner"));
    std::string owner;
    std::getline(in, owner);
    return FindProcessesByEnv(kProcessTagVariable, owner + ":");
  }
  DeployRequest Hello(const std::string& version, const std::string& key = "shop/dev/web") {
    DeployRequest r;
    r.key = key;
    r.spec.set_name("web");
    r.spec.set_driver("process");
    r.spec.mutable_process()->add_command(HELLO_SERVER_PATH);
    r.spec.mutable_process()->add_command("--version");
    r.spec.mutable_process()->add_command(version);
    r.spec.mutable_process()->mutable_health()->set_http_path("/healthz");
    r.artifact.set_version(version);
    r.env["SLIPWAY_PIPELINE"] = "shop";
    return r;
  }
  std::string Get(const std::string& url) {
    HttpRequest req;
    req.url = url;
    req.timeout = absl::Seconds(2);
    auto resp = http_.Send(req);
    return resp.ok() && resp->status == 200 ? resp->body : "";
  }
  bool Serves(const std::string& url, const std::string& body) {
    return testing::WaitUntil([&] { return Get(url) == body; });
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  HttplibHttpClient http_;
  std::unique_ptr<ProcessDriver> driver_;
};

TEST_F(ProcessDriverTest, ApplyStartsAServiceOnItsOwnPortAndIsIdempotent) {
  auto first = driver_->Apply(Hello("1.0"));
  ASSERT_OK(first);
  const std::string url = first->status.at("url");
  EXPECT_TRUE(Serves(url + "/version", "1.0"));
  EXPECT_TRUE(Serves(url + "/", "hello from shop 1.0\n"));
  EXPECT_TRUE(*driver_->Healthy(Hello("1.0")));
  auto again = driver_->Apply(Hello("1.0"));
  ASSERT_OK(again);
  EXPECT_EQ(again->status.at("pid"), first->status.at("pid"));
}

TEST_F(ProcessDriverTest, ANewArtifactReplacesTheProcessOnTheSamePort) {
  auto v1 = driver_->Apply(Hello("1.0"));
  ASSERT_OK(v1);
  pid_t old_pid = *driver_->PidOf("shop/dev/web");
  auto v2 = driver_->Apply(Hello("2.0"));
  ASSERT_OK(v2);
  EXPECT_EQ(v2->status.at("url"), v1->status.at("url"));
  EXPECT_NE(v2->status.at("pid"), v1->status.at("pid"));
  EXPECT_FALSE(ProcessExists(old_pid));
  EXPECT_TRUE(Serves(v2->status.at("url") + "/version", "2.0"));
}

TEST_F(ProcessDriverTest, ACrashedServiceIsRestartedAfterItsBackoff) {
  auto r = driver_->Apply(Hello("1.0"));
  ASSERT_OK(r);
  pid_t pid = *driver_->PidOf("shop/dev/web");
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(testing::WaitUntil([&] { return !driver_->PidOf("shop/dev/web").has_value(); }));
  EXPECT_EQ(driver_->Supervise(), 0);  // notices, schedules a restart in 1 s
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_EQ(driver_->Supervise(), 0);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(driver_->Supervise(), 1);
  ASSERT_TRUE(driver_->PidOf("shop/dev/web").has_value());
  EXPECT_NE(*driver_->PidOf("shop/dev/web"), pid);
  EXPECT_TRUE(Serves(r->status.at("url") + "/version", "1.0"));
}

TEST_F(ProcessDriverTest, TeardownStopsTheWholeProcessGroup) {
  DeployRequest r = Hello("1.0");
  r.spec.mutable_process()->clear_command();
  // A service that starts a child of its own.
  for (const char* a : {"/bin/sh", "-c", "sleep 300 & echo $! > child.pid; exec \"$0\" --version 1.0"}) {
    r.spec.mutable_process()->add_command(a);
  }
  r.spec.mutable_process()->add_command(HELLO_SERVER_PATH);
  r.spec.mutable_process()->set_working_dir(dir_.path());
  auto applied = driver_->Apply(r);
  ASSERT_OK(applied);
  ASSERT_TRUE(Serves(applied->status.at("url") + "/version", "1.0"));
  pid_t service = *driver_->PidOf("shop/dev/web");
  pid_t child = 0;
  ASSERT_TRUE(testing::WaitUntil([&] {
    std::ifstream in(dir_.File("child.pid"));
    return static_cast<bool>(in >> child) && child > 0;
  }));
  EXPECT_TRUE(ProcessExists(child));
  ASSERT_OK(driver_->Teardown(r));
  EXPECT_FALSE(ProcessExists(service));
  EXPECT_TRUE(testing::WaitUntil([&] { return !ProcessExists(child); }));
  EXPECT_TRUE(driver_->Keys().empty());
}

TEST_F(ProcessDriverTest, ARestartedControllerReadoptsRunningServices) {
  auto r = driver_->Apply(Hello("1.0"));
  ASSERT_OK(r);
  pid_t pid = *driver_->PidOf("shop/dev/web");
  NewDriver();  // the controller restarted; the service kept running
  ASSERT_EQ(driver_->PidOf("shop/dev/web"), pid);
  auto again = driver_->Apply(Hello("1.0"));
  ASSERT_OK(again);
  EXPECT_EQ(again->status.at("pid"), std::to_string(pid));
  // A service that died while the controller was down is started again.
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(testing::WaitUntil([&] { return !ProcessExists(pid) || !driver_->PidOf("shop/dev/web"); }));
  NewDriver();
  EXPECT_FALSE(driver_->PidOf("shop/dev/web").has_value());
  EXPECT_EQ(driver_->Supervise(), 1);
  EXPECT_TRUE(Serves(r->status.at("url") + "/version", "1.0"));
}

TEST_F(ProcessDriverTest, AProcessSpawnedJustBeforeACrashIsStoppedOnRestart) {
  // The controller "dies" between spawning the service and recording its pid.
  NewDriver([] { return absl::AbortedError("crash at process.after_spawn"); });
  EXPECT_THAT(driver_->Apply(Hello("1.0")), StatusIs(absl::StatusCode::kAborted, HasSubstr("after_spawn")));
  std::vector<MarkedProcess> strays = Tagged();
  ASSERT_EQ(strays.size(), 1u) << "the spawned process runs, untracked";
  pid_t stray = strays[0].pid;
  ASSERT_TRUE(ProcessExists(stray));

  NewDriver();  // the restart
  EXPECT_EQ(driver_->strays_stopped(), 1);
  EXPECT_TRUE(testing::WaitUntil([&] { return !ProcessExists(stray); }));
  // The recorded intent brings the service back, once.
  EXPECT_EQ(driver_->Supervise(), 1);
  ASSERT_TRUE(driver_->PidOf("shop/dev/web").has_value());
  EXPECT_NE(*driver_->PidOf("shop/dev/web"), stray);
  EXPECT_EQ(Tagged().size(), 1u);
  // A second restart adopts it and stops nothing.
  pid_t pid = *driver_->PidOf("shop/dev/web");
  NewDriver();
  EXPECT_EQ(driver_->strays_stopped(), 0);
  EXPECT_EQ(driver_->PidOf("shop/dev/web"), pid);
}

TEST_F(ProcessDriverTest, AnInterruptedTeardownIsFinishedOnRestart) {
  ASSERT_OK(driver_->Apply(Hello("1.0")));
  pid_t pid = *driver_->PidOf("shop/dev/web");
  // The teardown recorded its intent and then the controller died.
  std::string record;
  for (const auto& e : std::filesystem::directory_iterator(dir_.File("state/instances"))) {
    record = e.path();
  }
  std::ifstream in(record);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  size_t at = text.find("\"tearing_down\":false");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 20, "\"tearing_down\":true");
  std::ofstream(record) << text;

  NewDriver();
  EXPECT_EQ(driver_->strays_stopped(), 1);
  EXPECT_TRUE(testing::WaitUntil([&] { return !ProcessExists(pid); }));
  EXPECT_TRUE(driver_->Keys().empty());
  EXPECT_EQ(driver_->Supervise(), 0);
  EXPECT_FALSE(std::filesystem::exists(record));
}

TEST_F(ProcessDriverTest, AJobStillRunningWhenTheControllerRestartsIsStopped) {
  DeployRequest r;
  r.key = "shop/dev/migrate";
  r.spec.mutable_process()->add_command("/bin/sleep");
  r.spec.mutable_process()->add_command("30");
  std::thread job([&] { driver_->RunJob(r, {}, absl::Seconds(60)).IgnoreError(); });
  ASSERT_TRUE(testing::WaitUntil([&] { return Tagged().size() == 1; }));
  pid_t pid = Tagged()[0].pid;
  // A second driver on the same state dir, as slipwayd after a restart.
  std::unique_ptr<ProcessDriver> restarted = MakeDriver();
  ASSERT_OK(restarted->Load());
  EXPECT_EQ(restarted->strays_stopped(), 1);
  job.join();
  EXPECT_FALSE(ProcessExists(pid));
}

TEST_F(ProcessDriverTest, AServiceThatExitsAtOnceIsReportedWithItsLog) {
  DeployRequest r = Hello("1.0");
  r.spec.mutable_process()->clear_command();
  for (const char* a : {"/bin/sh", "-c", "echo missing config >&2; exit 3"}) {
    r.spec.mutable_process()->add_command(a);
  }
  EXPECT_THAT(driver_->Apply(r), StatusIs(absl::StatusCode::kUnavailable,
                                          HasSubstr("exited at once; log: missing config")));
  DeployRequest missing = Hello("1.0");
  missing.spec.mutable_process()->set_command(0, "/nonexistent/bin/server");
  missing.key = "shop/dev/other";
  EXPECT_THAT(driver_->Apply(missing), StatusIs(absl::StatusCode::kNotFound, HasSubstr("not found")));
}

TEST_F(ProcessDriverTest, HostileArgumentsReachTheProgramAsText) {
  DeployRequest r;
  r.key = "shop/dev/job";
  r.spec.mutable_process()->add_command("/usr/bin/printf");
  r.spec.mutable_process()->add_command("[%s]\n");
  r.spec.mutable_process()->set_working_dir(dir_.path());
  std::vector<std::string> args = {"$(touch pwned1)", "`touch pwned2`", "; touch pwned3",
                                   "../../etc/passwd", "a b\tc"};
  auto job = driver_->RunJob(r, args, absl::Seconds(10));
  ASSERT_OK(job);
  EXPECT_EQ(job->exit_code, 0);
  EXPECT_EQ(job->output,
            "[$(touch pwned1)]\n[`touch pwned2`]\n[; touch pwned3]\n[../../etc/passwd]\n[a b\tc]\n");
  for (const char* f : {"pwned1", "pwned2", "pwned3"}) {
    EXPECT_FALSE(std::filesystem::exists(dir_.File(f))) << f;
  }
}

TEST_F(ProcessDriverTest, AJobThatRunsTooLongIsKilled) {
  DeployRequest r;
  r.key = "shop/dev/job";
  r.spec.mutable_process()->add_command("/bin/sleep");
  r.spec.mutable_process()->add_command("30");
  EXPECT_THAT(driver_->RunJob(r, {}, absl::Milliseconds(300)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("did not finish")));
}

TEST(CommandDriverTest, CommandsGetValuesAsEnvironmentVariables) {
  testing::TempDir dir;
  CommandDriver driver;
  DeployRequest r;
  r.key = "shop/prod/db";
  r.spec.mutable_command()->add_apply("/bin/sh");
  r.spec.mutable_command()->add_apply("-c");
  r.spec.mutable_command()->add_apply("echo \"applying $SLIPWAY_ARTIFACT_VERSION for $SLIPWAY_KEY\"");
  r.spec.mutable_command()->add_status("/bin/false");
  r.spec.mutable_command()->add_teardown("/bin/sh");
  r.spec.mutable_command()->add_teardown("-c");
  r.spec.mutable_command()->add_teardown("touch \"$SLIPWAY_TEARDOWN_MARK\"");
  r.artifact.set_version("$(reboot)");
  r.env["SLIPWAY_ARTIFACT_VERSION"] = "$(reboot)";
  r.env["SLIPWAY_TEARDOWN_MARK"] = dir.File("torn-down");
  auto applied = driver.Apply(r);
  ASSERT_OK(applied);
  EXPECT_EQ(applied->status.at("output"), "applying $(reboot) for shop/prod/db\n");
  EXPECT_FALSE(*driver.Healthy(r));
  ASSERT_OK(driver.Teardown(r));
  EXPECT_TRUE(std::filesystem::exists(dir.File("torn-down")));

  r.spec.mutable_command()->set_apply(2, "echo broken >&2; exit 4");
  EXPECT_THAT(driver.Apply(r), StatusIs(absl::StatusCode::kInternal,
                                        HasSubstr("apply exited with status 4: broken")));
}

}  // namespace
}  // namespace slipway::deploy
