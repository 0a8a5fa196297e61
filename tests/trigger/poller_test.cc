// Repository polling against real local Git repositories created in the test.
#include "trigger/poller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/proto_yaml.h"
#include "storage/pipeline_repository.h"
#include "storage/run_repository.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_driver.h"
#include "tests/testing/sequential_ids.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::trigger {
namespace {

class FailingLister final : public RefLister {
 public:
  absl::StatusOr<std::map<std::string, std::string>> ListRefs(const std::string&) override {
    return absl::UnavailableError("host unreachable");
  }
};

class PollerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = dir_.File("repo");
    Git("init -q -b main " + repo_);
    Commit("first");
    auto db = storage::Database::Open({.path = dir_.File("db")});
    ASSERT_OK(db);
    db_ = *std::move(db);
    release::ExecutorDeps deps{db_.get(), &clock_, &ids_, {{"process", &driver_}}, &http_, &tasks_};
    executor_ = std::make_unique<release::Executor>(deps);
    intake_ = std::make_unique<WebhookIntake>(db_.get(), executor_.get(), &clock_, &ids_);
    v1::Pipeline p;
    ASSERT_OK(ParseYaml(R"(
name: polled
sources:
  - {name: app, provider: github, repository: acme/polled, clone_url: REPO, poll_interval: 1m}
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [web]}}]
    triggers: [{git: {source: app, branches: [main]}}]
    flow: {sequential: [{ref: web, skip_if: "true", deploy: {resource: web}}]}
  - name: api
    resources: [{name: web, driver: process, process: {command: [web]}}]
    triggers: [{git: {source: app, branches: [main], paths: {include: ["src/"]}}}]
    flow: {sequential: [{ref: web, skip_if: "true", deploy: {resource: web}}]}
  - name: cleanup
    resources: [{name: web, driver: process, process: {command: [web]}}]
    triggers: [{git: {source: app, events: [branch_deleted], branches: ["feature/*"]}}]
    flow: {sequential: [{ref: web, skip_if: "true", deploy: {resource: web}}]}
)",
                        &p));
    p.mutable_sources(0)->set_clone_url(repo_);
    ASSERT_OK(db_->Write(
        [&](storage::Transaction& tx) { return storage::PipelineRepository().Insert(tx, p); }));
  }
  void Git(const std::string& args) {
    std::string cmd = "git -c user.email=t@example.com -c user.name=t " + args + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  void Commit(const std::string& message) {
    Git("-C " + repo_ + " commit -q --allow-empty -m '" + message + "'");
  }
  // A commit that writes `file` (and nothing else).
  void CommitFile(const std::string& file, const std::string& message) {
    std::filesystem::create_directories(std::filesystem::path(repo_ + "/" + file).parent_path());
    std::ofstream(repo_ + "/" + file) << message << "\n";
    Git("-C " + repo_ + " add " + file);
    Git("-C " + repo_ + " commit -q -m '" + message + "'");
  }
  // The event of the newest delivery.
  v1::SourceEvent LastEvent() {
    auto list = intake_->List("", 1);  // every delivery, matched or not
    EXPECT_OK(list);
    return list.ok() && !list->empty() ? list->front().event() : v1::SourceEvent();
  }
  std::vector<v1::Run> Runs(const std::string& stage) {
    std::vector<v1::Run> runs;
    EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
      runs = *storage::RunRepository().List(tx, {"polled", stage, {}, 0, 50});
      return absl::OkStatus();
    }));
    return runs;
  }
  std::string Head(const std::string& branch) {
    std::string path = dir_.File("head");
    std::system(("git -C " + repo_ + " rev-parse " + branch + " > " + path).c_str());
    std::ifstream in(path);
    std::string sha;
    in >> sha;
    return sha;
  }

  testing::TempDir dir_;
  std::string repo_;
  testing::FakeClock clock_;
  testing::SequentialIds ids_;
  testing::FakeDriver driver_;
  testing::FakeHttpClient http_;
  testing::ManualTaskRunner tasks_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<release::Executor> executor_;
  std::unique_ptr<WebhookIntake> intake_;
  Libgit2RefLister git_{dir_.File("mirrors")};
};

TEST_F(PollerTest, NewCommitsAndDeletedBranchesActLikePushes) {
  Poller poller(db_.get(), intake_.get(), &git_, &clock_);
  auto first = poller.Tick();
  ASSERT_OK(first);
  EXPECT_EQ(first->polled, 1);
  EXPECT_EQ(first->events, 0);  // the first poll only records what is there
  Commit("second");
  EXPECT_EQ(poller.Tick()->polled, 0);  // not due yet
  clock_.Advance(absl::Minutes(1));
  auto second = poller.Tick();
  ASSERT_OK(second);
  EXPECT_EQ(second->events, 1);
  auto dev = Runs("dev");
  ASSERT_EQ(dev.size(), 1u);
  EXPECT_EQ(dev[0].trigger().sha(), Head("main"));
  EXPECT_EQ(dev[0].trigger().branch(), "main");

  Git("-C " + repo_ + " branch feature/login");
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(poller.Tick()->events, 1);  // a new branch: no stage listens to it
  EXPECT_EQ(Runs("dev").size(), 1u);
  Git("-C " + repo_ + " branch -q -D feature/login");
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(poller.Tick()->events, 1);
  auto cleanup = Runs("cleanup");
  ASSERT_EQ(cleanup.size(), 1u);
  EXPECT_EQ(cleanup[0].trigger().branch(), "feature/login");
  EXPECT_EQ(cleanup[0].trigger().event(), "branch_deleted");
}

TEST_F(PollerTest, OnlyDueSourcesAreReadAndSourceEditsReschedule) {
  Poller poller(db_.get(), intake_.get(), &git_, &clock_);
  ASSERT_OK(poller.Tick());
  EXPECT_EQ(poller.Scheduled(), 1);
  const uint64_t reads = db_->reads();
  for (int i = 0; i < 30; ++i) {
    clock_.Advance(absl::Seconds(1));
    ASSERT_EQ(poller.Tick()->polled, 0);
  }
  EXPECT_EQ(db_->reads(), reads);  // nothing due, nothing changed: the store is not read
  // A longer interval takes effect from the next poll on; a source without one is not polled.
  v1::Pipeline p;
  ASSERT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto got = storage::PipelineRepository().Get(tx, "polled");
    if (got.ok()) p = *got;
    return got.status();
  }));
  v1::Pipeline edited = p;
  edited.mutable_sources(0)->mutable_poll_interval()->set_seconds(3600);
  ASSERT_OK(db_->Write([&](storage::Transaction& tx) {
    return storage::PipelineRepository().Update(tx, edited, p.etag());
  }));
  clock_.Advance(absl::Seconds(30));
  EXPECT_EQ(poller.Tick()->polled, 1);  // due at its old time
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(poller.Tick()->polled, 0);  // next in an hour
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(poller.Tick()->polled, 1);
  v1::Pipeline unpolled = edited;
  unpolled.mutable_sources(0)->clear_poll_interval();
  ASSERT_OK(db_->Write([&](storage::Transaction& tx) {
    return storage::PipelineRepository().Update(tx, unpolled, edited.etag());
  }));
  clock_.Advance(absl::Hours(2));
  EXPECT_EQ(poller.Tick()->polled, 0);
  EXPECT_EQ(poller.Scheduled(), 0);
}

TEST_F(PollerTest, PolledCommitsCarryMessagesAndFilesForSkipFlagsAndPathRules) {
  Poller poller(db_.get(), intake_.get(), &git_, &clock_);
  ASSERT_OK(poller.Tick());
  auto tick = [&] {
    clock_.Advance(absl::Minutes(1));
    auto r = poller.Tick();
    ASSERT_OK(r);
    ASSERT_EQ(r->events, 1);
  };

  CommitFile("docs/guide.md", "docs: guide");
  tick();
  v1::SourceEvent e = LastEvent();
  EXPECT_THAT(e.commit_messages(), ::testing::ElementsAre("docs: guide\n"));
  EXPECT_THAT(e.changed_files(), ::testing::ElementsAre("docs/guide.md"));
  EXPECT_EQ(Runs("dev").size(), 1u);
  EXPECT_EQ(Runs("api").size(), 0u);  // nothing under src/

  // Two commits in one poll, one of them flagged: neither stage runs.
  CommitFile("src/main.cc", "feat: main");
  Commit("tidy [skip ci]");
  tick();
  e = LastEvent();
  EXPECT_EQ(e.commit_messages_size(), 2);
  EXPECT_THAT(e.changed_files(), ::testing::ElementsAre("src/main.cc"));
  EXPECT_EQ(Runs("dev").size(), 1u);
  EXPECT_EQ(Runs("api").size(), 0u);

  CommitFile("src/util.cc", "fix: util");
  tick();
  EXPECT_THAT(LastEvent().changed_files(), ::testing::ElementsAre("src/util.cc"));
  EXPECT_EQ(Runs("dev").size(), 2u);
  EXPECT_EQ(Runs("api").size(), 1u);

  // A new branch brings only the commits no known ref had; a new tag its commit's message.
  Git("-C " + repo_ + " checkout -q -b feature/one");
  CommitFile("web/app.js", "web: app");
  Git("-C " + repo_ + " checkout -q main");
  tick();
  e = LastEvent();
  EXPECT_EQ(e.branch(), "feature/one");
  EXPECT_THAT(e.commit_messages(), ::testing::ElementsAre("web: app\n"));
  EXPECT_THAT(e.changed_files(), ::testing::ElementsAre("web/app.js"));
  Git("-C " + repo_ + " tag -a v1.0 -m 'release notes'");
  tick();
  e = LastEvent();
  EXPECT_EQ(e.tag(), "v1.0");
  EXPECT_THAT(e.commit_messages(), ::testing::ElementsAre("fix: util\n"));
}

TEST_F(PollerTest, AnUnreachableRepositoryNeverCountsAsDeleted) {
  Poller poller(db_.get(), intake_.get(), &git_, &clock_);
  ASSERT_OK(poller.Tick());
  FailingLister down;
  Poller offline(db_.get(), intake_.get(), &down, &clock_);
  clock_.Advance(absl::Minutes(1));
  auto r = offline.Tick();
  ASSERT_OK(r);
  EXPECT_EQ(r->unreachable, 1);
  EXPECT_EQ(r->events, 0);
  EXPECT_TRUE(Runs("cleanup").empty());
  // Back online with nothing changed: still nothing to do.
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(poller.Tick()->events, 0);
}

}  // namespace
}  // namespace slipway::trigger
