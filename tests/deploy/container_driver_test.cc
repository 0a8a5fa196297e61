// The container driver against a real Podman API service (tests/testing/podman_service.h)
// with images built locally, and a real Caddy for routes where a test needs one.
#include "deploy/container_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/random.h"
#include "deploy/httplib_http_client.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/podman_service.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::deploy {
namespace {

using ::slipway::testing::IsOk;
using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

class ContainerDriverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    podman_ = new slipway::testing::PodmanService();
    ASSERT_TRUE(podman_->ready()) << "the Podman API service did not start";
    image_ = absl::StrCat("localhost/slipway-driver-test-", getpid(), ":1");
    ASSERT_TRUE(podman_->BuildImage(image_, {{"version.txt", "one\n"}, {"healthz", "ok\n"}}));
  }
  static void TearDownTestSuite() {
    delete podman_;
    podman_ = nullptr;
  }

  void SetUp() override {
    SecureIdGenerator ids;
    ContainerDriverOptions o;
    o.host = podman_->host();
    o.controller_id = "t" + ids.RandomHex(5);
    o.health_wait = absl::Seconds(20);
    driver_ = std::make_unique<ContainerDriver>(o, &http_);
  }
  void TearDown() override {
    const std::string id = driver_->controller_id();
    slipway::testing::PodmanService::Run(
        "podman ps -aq --filter label=io.slipway.controller=" + id +
        " | xargs -r podman rm -f >/dev/null 2>&1; podman network ls -q --filter "
        "label=io.slipway.controller=" +
        id +
        " | xargs -r podman network rm >/dev/null 2>&1; podman volume ls -q --filter "
        "label=io.slipway.controller=" +
        id + " | xargs -r podman volume rm -f >/dev/null 2>&1");
  }

  DeployRequest Web(const std::string& key = "shop/dev/web") {
    DeployRequest r;
    r.key = key;
    r.spec.set_name(key.substr(key.rfind('/') + 1));
    r.spec.set_driver("container");
    auto* c = r.spec.mutable_container();
    c->set_image(image_);
    c->add_ports()->set_container_port(8080);
    c->mutable_health()->set_http_path("/healthz");
    *c->mutable_stop_timeout() = ProtoDuration(absl::Seconds(1));
    return r;
  }

  std::vector<ContainerInfo> Mine(const std::string& extra = "") {
    std::vector<std::string> f = {absl::StrCat(kLabelController, "=", driver_->controller_id())};
    if (!extra.empty()) f.push_back(extra);
    auto got = driver_->engine().ListContainers(f);
    EXPECT_THAT(got.status(), IsOk());
    return got.ok() ? *got : std::vector<ContainerInfo>();
  }

  std::string Get(const std::string& port, const std::string& path) {
    HttpRequest req;
    req.url = absl::StrCat("http://127.0.0.1:", port, path);
    auto r = http_.Send(req);
    return r.ok() ? r->body : "";
  }

  static slipway::testing::PodmanService* podman_;
  static std::string image_;
  HttplibHttpClient http_;
  std::unique_ptr<ContainerDriver> driver_;
};

slipway::testing::PodmanService* ContainerDriverTest::podman_ = nullptr;
std::string ContainerDriverTest::image_;

TEST_F(ContainerDriverTest, ApplyRunsALabelledHealthyContainerAndReportsItsDigest) {
  auto r = driver_->Apply(Web());
  ASSERT_THAT(r.status(), IsOk());
  EXPECT_THAT(r->digest, HasSubstr("@sha256:"));
  EXPECT_EQ(Get(r->status.at("port"), "/version.txt"), "one\n");
  auto mine = Mine(absl::StrCat(kLabelKey, "=shop/dev/web"));
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].labels[kLabelPipeline], "shop");
  EXPECT_EQ(mine[0].labels[kLabelStage], "dev");
  EXPECT_EQ(mine[0].labels[kLabelResource], "web");
  auto healthy = driver_->Healthy(Web());
  ASSERT_THAT(healthy.status(), IsOk());
  EXPECT_TRUE(*healthy);
}

TEST_F(ContainerDriverTest, ApplyingTheSameStateTwiceChangesNothing) {
  auto first = driver_->Apply(Web());
  ASSERT_THAT(first.status(), IsOk());
  auto second = driver_->Apply(Web());
  ASSERT_THAT(second.status(), IsOk());
  EXPECT_EQ(first->status.at("container"), second->status.at("container"));
  EXPECT_EQ(Mine().size(), 1u);
}

TEST_F(ContainerDriverTest, ANewConfigurationReplacesTheContainerAfterItIsHealthy) {
  auto first = driver_->Apply(Web());
  ASSERT_THAT(first.status(), IsOk());
  DeployRequest changed = Web();
  (*changed.spec.mutable_container()->mutable_env())["COLOR"] = "blue";
  auto second = driver_->Apply(changed);
  ASSERT_THAT(second.status(), IsOk());
  EXPECT_NE(first->status.at("container"), second->status.at("container"));
  auto mine = Mine();
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].name, second->status.at("container"));
}

TEST_F(ContainerDriverTest, AContainerWithOnlySomeOfOurLabelsIsReplacedNotAdopted) {
  // Carries this controller's id and the key, but no configuration hash (made by hand).
  nlohmann::json config = {{"Image", image_},
                           {"Labels",
                            {{kLabelController, driver_->controller_id()},
                             {kLabelKey, "shop/dev/web"},
                             {kLabelRole, "service"}}}};
  auto id =
      driver_->engine().CreateContainer(absl::StrCat("slipway-test-partial-", getpid()), config);
  ASSERT_THAT(id.status(), IsOk());
  ASSERT_THAT(driver_->engine().StartContainer(*id), IsOk());
  auto r = driver_->Apply(Web());
  ASSERT_THAT(r.status(), IsOk());
  auto mine = Mine();
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].name, r->status.at("container"));
}

TEST_F(ContainerDriverTest, AContainerThatFailsItsHealthCheckIsRemovedAndTheOldOneKeepsServing) {
  auto first = driver_->Apply(Web());
  ASSERT_THAT(first.status(), IsOk());
  ContainerDriverOptions o;
  o.host = podman_->host();
  o.controller_id = driver_->controller_id();
  o.health_wait = absl::Seconds(2);
  // The wait is measured by the injected clock, which only the polls move: 40 of them.
  slipway::testing::FakeClock clock;
  o.clock = &clock;
  ContainerDriver impatient(o, &http_);
  DeployRequest broken = Web();
  (*broken.spec.mutable_container()->mutable_env())["VERSION"] = "2";
  broken.spec.mutable_container()->mutable_health()->set_http_path("/missing");
  auto r = impatient.Apply(broken);
  EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("/missing")));
  EXPECT_THAT(r.status().message(), HasSubstr("in 2s"));
  EXPECT_EQ(clock.sleeps(), 40);
  auto mine = Mine();
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].name, first->status.at("container"));
  EXPECT_EQ(Get(first->status.at("port"), "/version.txt"), "one\n");
}

TEST_F(ContainerDriverTest, AContainerThatExitsFailsTheApplyNamingItsStatusAndOutput) {
  DeployRequest r = Web();
  auto* c = r.spec.mutable_container();
  c->clear_command();
  c->add_command("sh");
  c->add_command("-c");
  c->add_command("echo cannot open config; exit 3");
  auto got = driver_->Apply(r);
  EXPECT_THAT(got.status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("exited with status 3")));
  EXPECT_THAT(got.status().message(), HasSubstr("cannot open config"));
  EXPECT_TRUE(Mine().empty());
}

TEST_F(ContainerDriverTest, AMissingImageFailsNamingIt) {
  DeployRequest r = Web();
  r.spec.mutable_container()->set_image("localhost/slipway-no-such-image:9");
  r.spec.mutable_container()->set_pull(v1::PULL_POLICY_NEVER);
  EXPECT_THAT(driver_->Apply(r).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("slipway-no-such-image:9")));
  EXPECT_TRUE(Mine().empty());
}

TEST_F(ContainerDriverTest, AnImageThatCannotBePulledFailsNamingIt) {
  DeployRequest r = Web();
  // No registry answers on this machine: the pull itself fails.
  r.spec.mutable_container()->set_image("127.0.0.1:9/slipway/absent:1");
  auto got = driver_->Apply(r);
  EXPECT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("pulling image 127.0.0.1:9/slipway/absent:1"));
  EXPECT_TRUE(Mine().empty());
}

TEST_F(ContainerDriverTest, AnUnreachableEngineFailsNamingTheSocket) {
  ContainerDriverOptions o;
  o.host = "unix:///nonexistent/engine.sock";
  o.controller_id = "tdown";
  ContainerDriver down(o, &http_);
  EXPECT_THAT(down.Apply(Web()).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("/nonexistent/engine.sock")));
}

TEST_F(ContainerDriverTest, RunJobCapturesOutputAndExitCodeAndRemovesTheContainer) {
  DeployRequest r = Web("shop/dev/migrate");
  r.spec.set_kind(v1::RESOURCE_KIND_JOB);
  auto* c = r.spec.mutable_container();
  c->add_command("sh");
  c->add_command("-c");
  c->add_command("echo migrating \"$@\"; exit 4");
  c->add_command("job");
  auto got = driver_->RunJob(r, {"--to", "v2"}, absl::Seconds(30));
  ASSERT_THAT(got.status(), IsOk());
  EXPECT_EQ(got->exit_code, 4);
  EXPECT_THAT(got->output, HasSubstr("migrating --to v2"));
  EXPECT_TRUE(Mine().empty());
}

TEST_F(ContainerDriverTest, TeardownRemovesContainersVolumesAndTheNetwork) {
  DeployRequest r = Web("shop/preview:pr-1/web");
  auto* v = r.spec.mutable_container()->add_volumes();
  v->set_name("data");
  v->set_path("/data");
  ASSERT_THAT(driver_->Apply(r).status(), IsOk());
  const std::string mine = absl::StrCat(kLabelController, "=", driver_->controller_id());
  EXPECT_EQ(driver_->engine().ListVolumes(mine)->size(), 1u);
  EXPECT_EQ(driver_->engine().ListNetworks(mine)->size(), 1u);
  ASSERT_THAT(driver_->Teardown(r), IsOk());
  EXPECT_TRUE(Mine().empty());
  EXPECT_TRUE(driver_->engine().ListVolumes(mine)->empty());
  EXPECT_TRUE(driver_->engine().ListNetworks(mine)->empty());
  EXPECT_THAT(driver_->Teardown(r), IsOk());  // nothing left: still OK
}

TEST_F(ContainerDriverTest, SweepRemovesOrphansAndNeverTouchesUnlabelledContainers) {
  ASSERT_THAT(driver_->Apply(Web("shop/dev/web")).status(), IsOk());
  ASSERT_THAT(driver_->Apply(Web("shop/dev/api")).status(), IsOk());
  ASSERT_THAT(driver_->Apply(Web("shop/dev/old")).status(), IsOk());
  const std::string stranger = absl::StrCat("slipway-test-unlabelled-", getpid());
  ASSERT_THAT(driver_->engine().CreateContainer(stranger, {{"Image", image_}}).status(), IsOk());
  SweepReport report = driver_->Sweep([]() -> absl::StatusOr<ContainerDriver::Ownership> {
    return ContainerDriver::Ownership{{"shop/dev/web", "shop/dev/api"}, {"shop/dev"}, {}};
  });
  EXPECT_EQ(report.refused, "");
  EXPECT_EQ(report.removed_containers, 1);
  EXPECT_TRUE(Mine(absl::StrCat(kLabelKey, "=shop/dev/old")).empty());
  EXPECT_EQ(Mine().size(), 2u);
  auto untouched = driver_->engine().InspectContainer(stranger);
  ASSERT_THAT(untouched.status(), IsOk());
  EXPECT_TRUE(untouched->has_value());
  driver_->engine().RemoveContainer(stranger, absl::ZeroDuration()).IgnoreError();
}

TEST_F(ContainerDriverTest, SweepRefusesToRemoveMostOfWhatItSees) {
  ASSERT_THAT(driver_->Apply(Web("shop/dev/a")).status(), IsOk());
  ASSERT_THAT(driver_->Apply(Web("shop/dev/b")).status(), IsOk());
  ASSERT_THAT(driver_->Apply(Web("shop/dev/c")).status(), IsOk());
  // A store that (wrongly) says nothing is owned must not empty the engine.
  SweepReport report = driver_->Sweep(
      []() -> absl::StatusOr<ContainerDriver::Ownership> { return ContainerDriver::Ownership{}; });
  EXPECT_THAT(report.refused, HasSubstr("more than"));
  EXPECT_EQ(report.removed_containers, 0);
  EXPECT_EQ(Mine().size(), 3u);
}

TEST_F(ContainerDriverTest, SweepDoesNothingWhenTheOwnershipCannotBeRead) {
  ASSERT_THAT(driver_->Apply(Web("shop/dev/a")).status(), IsOk());
  SweepReport report = driver_->Sweep([]() -> absl::StatusOr<ContainerDriver::Ownership> {
    return absl::UnavailableError("database is locked");
  });
  EXPECT_THAT(report.refused, HasSubstr("database is locked"));
  EXPECT_EQ(Mine().size(), 1u);
}

TEST_F(ContainerDriverTest, SweepKeepsOnlyTheNewestRunningContainerOfAKey) {
  ASSERT_THAT(driver_->Apply(Web()).status(), IsOk());
  // What an interrupted replace leaves: a second container of the same key.
  ContainerInfo first = Mine()[0];
  auto labels = first.labels;
  labels[kLabelSpec] = "interrupted";
  nlohmann::json config = {{"Image", image_}, {"Labels", labels}};
  auto id = driver_->engine().CreateContainer(absl::StrCat(first.name, "-dup"), config);
  ASSERT_THAT(id.status(), IsOk());
  sleep(1);  // a later creation second
  ASSERT_THAT(driver_->engine().StartContainer(*id), IsOk());
  ASSERT_EQ(Mine().size(), 2u);
  SweepReport report = driver_->Sweep([]() -> absl::StatusOr<ContainerDriver::Ownership> {
    return ContainerDriver::Ownership{{"shop/dev/web"}, {"shop/dev"}, {}};
  });
  EXPECT_EQ(report.refused, "");
  EXPECT_EQ(Mine().size(), 1u);
}

TEST_F(ContainerDriverTest, LogsStreamTheContainersOutput) {
  auto r = driver_->Apply(Web());
  ASSERT_THAT(r.status(), IsOk());
  Get(r->status.at("port"), "/version.txt");
  std::string out;
  ASSERT_THAT(driver_->Logs(Web(), false, 50,
                            [&](std::string_view piece) {
                              out.append(piece);
                              return true;
                            }),
              IsOk());
  EXPECT_THAT(out, HasSubstr("response:200"));  // busybox httpd -v logs each response
}

}  // namespace
}  // namespace slipway::deploy
