// Pipelines kept in Git, against a real bare repository on local disk: Slipway reads and pushes
// it with libgit2, and the test works on it with the `git` CLI as a second client.
#include "gitops/gitops.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "absl/strings/match.h"
#include "common/proto_yaml.h"
#include "common/status_macros.h"
#include "storage/pipeline_repository.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_driver.h"
#include "tests/testing/sequential_ids.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "trigger/poller.h"

namespace slipway::gitops {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPath[] = ".slipway/shop.yaml";

constexpr char kSpec[] = R"(
name: shop
description: the shop
sources:
  - name: app
    provider: github
    repository: acme/shop
    clone_url: ORIGIN
    webhook_secret: {value: hook-secret-value-1}
arguments:
  - {name: region, default: us}
  - {name: api_key, secret: true}
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [web, "${args.region}"]}}]
    triggers: [{git: {source: app, branches: [main]}}]
    flow: {sequential: [{ref: web, skip_if: "true", deploy: {resource: web}}]}
)";

// Real Git files whose next push finds the branch moved: `before_push` runs (a push by the
// git CLI) just before Slipway's own push, once.
class RacingGitFiles final : public GitFiles {
 public:
  using GitFiles::GitFiles;
  std::function<void()> before_push;
  absl::StatusOr<PushedFile> CommitAndPush(const std::string& url, const std::string& branch,
                                           const std::string& parent, const std::string& path,
                                           const std::string& contents, const CommitAuthor& author,
                                           const std::string& message, absl::Time when) override {
    if (before_push) {
      std::function<void()> race = std::move(before_push);
      before_push = nullptr;
      race();
    }
    return GitFiles::CommitAndPush(url, branch, parent, path, contents, author, message, when);
  }
};

class GitOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    origin_ = dir_.File("origin.git");
    work_ = dir_.File("work");
    Git("init -q --bare -b main " + origin_);
    Git("clone -q " + origin_ + " " + work_);
    Git("-C " + work_ + " checkout -q -b main");
    WriteWork("README.md", "shop\n");
    Git("-C " + work_ + " add README.md");
    Git("-C " + work_ + " commit -q -m 'first'");
    Git("-C " + work_ + " push -q origin main");
    auto db = storage::Database::Open({.path = dir_.File("db")});
    ASSERT_OK(db);
    db_ = *std::move(db);
    manager_ = std::make_unique<pipeline::PipelineManager>(db_.get(), &clock_, &ids_);
    release::ExecutorDeps deps{db_.get(), &clock_, &ids_, {{"process", &driver_}}, &http_, &tasks_};
    executor_ = std::make_unique<release::Executor>(deps);
    intake_ = std::make_unique<trigger::WebhookIntake>(db_.get(), executor_.get(), &clock_, &ids_);
    Restart();
  }

  // A new GitOps over the same store and repository, as after a restart of slipwayd.
  void Restart() {
    gitops_.reset();
    files_ = std::make_unique<RacingGitFiles>(dir_.File("clones"), &clock_);
    gitops_ = std::make_unique<GitOps>(
        db_.get(), manager_.get(), files_.get(), &clock_, nullptr,
        GitOpsOptions{.push_attempts = 3, .first_backoff = absl::Milliseconds(1)});
    manager_->SetWriteBack(gitops_.get());
    intake_->SetPushHook(gitops_.get());
  }

  void Git(const std::string& args) {
    std::string cmd =
        "git -c user.email=dev@example.com -c user.name='Dana Dev' -c init.defaultBranch=main " +
        args + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  std::string GitOut(const std::string& args) {
    const std::string out = dir_.File("git-out");
    std::string cmd = "git " + args + " > " + out + " 2>/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream in(out);
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }
  void WriteWork(const std::string& file, const std::string& contents) {
    std::filesystem::create_directories(std::filesystem::path(work_ + "/" + file).parent_path());
    std::ofstream(work_ + "/" + file) << contents;
  }
  // Commits `contents` as `file` in the work clone and pushes; returns the new head.
  std::string PushFile(const std::string& file, const std::string& contents,
                       const std::string& message) {
    Git("-C " + work_ + " pull -q --rebase origin main");
    WriteWork(file, contents);
    Git("-C " + work_ + " add " + file);
    Git("-C " + work_ + " commit -q -m '" + message + "'");
    Git("-C " + work_ + " push -q origin main");
    return OriginHead();
  }
  std::string OriginHead() { return GitOut("-C " + origin_ + " rev-parse main"); }
  std::string OriginFile(const std::string& file) {
    return GitOut("-C " + origin_ + " show main:" + file);
  }
  std::string WorkFile(const std::string& file) {
    Git("-C " + work_ + " pull -q --rebase origin main");
    std::ifstream in(work_ + "/" + file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  v1::Pipeline Spec(const std::string& name = "shop") {
    v1::Pipeline p;
    std::string yaml = kSpec;
    yaml.replace(yaml.find("ORIGIN"), 6, origin_);
    EXPECT_OK(ParseYaml(yaml, &p));
    p.set_name(name);
    return p;
  }
  void Create(v1::Pipeline p) {
    v1::CreatePipelineRequest req;
    *req.mutable_pipeline() = std::move(p);
    ASSERT_OK(manager_->Create(req));
  }
  v1::Pipeline Stored(const std::string& name) {
    v1::Pipeline p;
    EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(p, storage::PipelineRepository().Get(tx, name));
      return absl::OkStatus();
    }));
    return p;
  }
  absl::StatusOr<v1::GitOpsBinding> Enable(const std::string& name) {
    v1::EnableGitOpsRequest req;
    req.set_pipeline(name);
    req.set_source("app");
    req.set_branch("main");
    req.set_path(kPath);
    pipeline::Author author{"token:tok-1", "release bot", v1::REVISION_SOURCE_CLI};
    return gitops_->Enable(req, author);
  }
  // The webhook delivery of a push of `sha` that touched `files`.
  trigger::IntakeResult DeliverPush(const std::string& sha, std::vector<std::string> files) {
    v1::SourceEvent e;
    e.set_provider(v1::PROVIDER_GITHUB);
    e.set_kind(v1::GIT_EVENT_KIND_PUSH);
    e.set_repository("acme/shop");
    e.set_branch("main");
    e.set_sha(sha);
    for (auto& f : files) e.add_changed_files(std::move(f));
    std::vector<v1::Pipeline> pipelines;
    EXPECT_OK(db_->Read([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(pipelines, storage::PipelineRepository().List(tx, "", "", 100));
      return absl::OkStatus();
    }));
    return intake_->HandleEvent(e, "push-" + sha, pipelines);
  }
  absl::StatusOr<v1::Pipeline> EditDescription(const std::string& name, const std::string& text,
                                               const std::string& message = "") {
    v1::Pipeline p = Stored(name);
    p.set_description(text);
    v1::UpdatePipelineRequest req;
    *req.mutable_pipeline() = p;
    req.set_message(message);
    pipeline::Author author{"token:tok-2", "ci-bot for shop", v1::REVISION_SOURCE_CLI};
    return manager_->Update(req, author);
  }
  v1::PipelineRevision LatestRevision(const std::string& name) {
    v1::ListPipelineRevisionsRequest req;
    req.set_pipeline(name);
    auto list = manager_->ListRevisions(req);
    EXPECT_OK(list);
    return list.ok() && list->revisions_size() > 0 ? list->revisions(0) : v1::PipelineRevision();
  }

  testing::TempDir dir_;
  std::string origin_, work_;
  testing::FakeClock clock_;
  testing::SequentialIds ids_;
  testing::FakeDriver driver_;
  testing::FakeHttpClient http_;
  testing::ManualTaskRunner tasks_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<pipeline::PipelineManager> manager_;
  std::unique_ptr<release::Executor> executor_;
  std::unique_ptr<trigger::WebhookIntake> intake_;
  std::unique_ptr<RacingGitFiles> files_;
  std::unique_ptr<GitOps> gitops_;
};

TEST_F(GitOpsTest, EnableCommitsTheSpecWithoutSecretsAndAPushAppliesTheFile) {
  v1::Pipeline spec = Spec();
  (*spec.mutable_argument_overrides())["region"] = "eu";
  (*spec.mutable_secret_argument_overrides())["api_key"] = "very-secret-override-2";
  Create(spec);
  auto bound = Enable("shop");
  ASSERT_OK(bound);
  EXPECT_EQ(bound->state(), v1::GITOPS_STATE_SYNCED);
  EXPECT_EQ(bound->synced_sha(), OriginHead());
  // The file in Git: the spec, with references to secrets only, and no overrides.
  const std::string file = OriginFile(kPath);
  EXPECT_THAT(file, HasSubstr("the shop"));
  EXPECT_THAT(file, Not(HasSubstr("hook-secret-value-1")));
  EXPECT_THAT(file, Not(HasSubstr("very-secret-override-2")));
  EXPECT_THAT(file, Not(HasSubstr("argument_overrides")));
  EXPECT_THAT(GitOut("-C " + origin_ + " log -1 --format=%an main"), "release bot");

  // Someone edits the file in Git and pushes; the webhook applies it.
  std::string edited = WorkFile(kPath);
  edited.replace(edited.find("the shop"), 8, "the shop, from git");
  const std::string sha = PushFile(kPath, edited, "describe the shop");
  trigger::IntakeResult r = DeliverPush(sha, {kPath});
  EXPECT_EQ(r.status, 200) << r.message;
  ASSERT_GE(r.delivery.matches_size(), 1);
  EXPECT_THAT(r.delivery.matches(0).gitops(), HasSubstr("synced at " + sha.substr(0, 12)));
  v1::Pipeline now = Stored("shop");
  EXPECT_EQ(now.description(), "the shop, from git");
  // What stays in Slipway stayed: the overrides and the secret value.
  EXPECT_EQ(now.argument_overrides().at("region"), "eu");
  EXPECT_EQ(now.secret_argument_overrides().at("api_key"), "very-secret-override-2");
  EXPECT_EQ(now.sources(0).webhook_secret().value(), "hook-secret-value-1");
  v1::PipelineRevision rev = LatestRevision("shop");
  EXPECT_EQ(rev.source(), v1::REVISION_SOURCE_GIT);
  EXPECT_EQ(rev.git_sha(), sha);
  EXPECT_EQ(rev.actor_description(), "Dana Dev <dev@example.com>");
  EXPECT_EQ(rev.message(), "describe the shop");
  EXPECT_EQ(gitops_->Get("shop")->status(), "synced at " + sha.substr(0, 12));

  // A push that does not touch the file changes nothing and is not a sync.
  const std::string other = PushFile("src/main.c", "int main() {}\n", "code");
  trigger::IntakeResult code = DeliverPush(other, {"src/main.c"});
  for (const auto& m : code.delivery.matches()) EXPECT_EQ(m.gitops(), "");
  EXPECT_EQ(Stored("shop").revision(), now.revision());
}

TEST_F(GitOpsTest, AnInvalidPushKeepsTheLastGoodRevisionAndReportsEveryError) {
  Create(Spec());
  ASSERT_OK(Enable("shop"));
  const v1::Pipeline good = Stored("shop");
  std::string broken = WorkFile(kPath);
  broken.replace(broken.find("driver: process"), 15, "driver: teleport");
  broken.replace(broken.find("name: dev"), 9, "name: Dev_Stage");
  const std::string sha = PushFile(kPath, broken, "break it");
  trigger::IntakeResult r = DeliverPush(sha, {kPath});
  ASSERT_GE(r.delivery.matches_size(), 1);
  EXPECT_THAT(r.delivery.matches(0).gitops(), HasSubstr("sync failed at " + sha.substr(0, 12)));
  auto b = gitops_->Get("shop");
  ASSERT_OK(b);
  EXPECT_EQ(b->state(), v1::GITOPS_STATE_FAILED);
  EXPECT_THAT(b->status(), HasSubstr("sync failed at " + sha.substr(0, 12)));
  ASSERT_GE(b->errors_size(), 2) << b->DebugString();
  EXPECT_THAT(b->status(), HasSubstr(absl::StrCat(b->errors_size(), " problem(s)")));
  std::string all;
  for (const auto& e : b->errors()) all += e + "\n";
  EXPECT_THAT(all, HasSubstr("teleport"));
  EXPECT_THAT(all, HasSubstr("Dev_Stage"));
  EXPECT_THAT(all, HasSubstr("(line "));
  // Nothing changed: same revision, same spec.
  EXPECT_EQ(Stored("shop").revision(), good.revision());
  EXPECT_EQ(Stored("shop").stages(0).name(), "dev");
  // An edit through the API is refused while the file in Git is not what runs.
  auto edit = EditDescription("shop", "edited");
  EXPECT_TRUE(absl::IsAborted(edit.status())) << edit.status();
}

TEST_F(GitOpsTest, AnApiEditIsACommitByTheTokensDescription) {
  Create(Spec());
  ASSERT_OK(Enable("shop"));
  auto edited = EditDescription("shop", "edited through the API", "Describe the shop better");
  ASSERT_OK(edited);
  const std::string head = OriginHead();
  EXPECT_THAT(OriginFile(kPath), HasSubstr("edited through the API"));
  EXPECT_THAT(OriginFile(kPath), Not(HasSubstr("hook-secret-value-1")));
  EXPECT_EQ(GitOut("-C " + origin_ + " log -1 --format=%an main"), "ci-bot for shop");
  EXPECT_EQ(GitOut("-C " + origin_ + " log -1 --format=%s main"), "Describe the shop better");
  v1::PipelineRevision rev = LatestRevision("shop");
  EXPECT_EQ(rev.git_sha(), head);
  EXPECT_EQ(rev.source(), v1::REVISION_SOURCE_CLI);
  EXPECT_EQ(gitops_->Get("shop")->synced_sha(), head);
  // The push's own webhook finds the file as written: no new revision.
  trigger::IntakeResult r = DeliverPush(head, {kPath});
  ASSERT_GE(r.delivery.matches_size(), 1);
  EXPECT_THAT(r.delivery.matches(0).gitops(), HasSubstr("synced at"));
  EXPECT_EQ(Stored("shop").revision(), edited->revision());
  // Without --message the commit message says who edited it.
  ASSERT_OK(EditDescription("shop", "again"));
  EXPECT_THAT(GitOut("-C " + origin_ + " log -1 --format=%B main"),
              HasSubstr("Edited through Slipway by ci-bot for shop"));
}

TEST_F(GitOpsTest, AConcurrentPushToTheFileGivesAbortedNamingTheNewCommit) {
  Create(Spec());
  ASSERT_OK(Enable("shop"));
  const v1::Pipeline before = Stored("shop");
  std::string changed = WorkFile(kPath);
  changed.replace(changed.find("the shop"), 8, "changed in git");
  const std::string sha = PushFile(kPath, changed, "change in git");  // no webhook yet
  auto edit = EditDescription("shop", "changed in slipway");
  ASSERT_TRUE(absl::IsAborted(edit.status())) << edit.status();
  EXPECT_THAT(edit.status().message(), HasSubstr(sha));
  // Nothing half-written: Git still has the other edit, Slipway its old revision.
  EXPECT_EQ(OriginHead(), sha);
  EXPECT_EQ(Stored("shop").revision(), before.revision());
  EXPECT_EQ(Stored("shop").description(), "the shop");
}

TEST_F(GitOpsTest, AConcurrentPushToAnotherFileIsRebasedOnto) {
  Create(Spec());
  ASSERT_OK(Enable("shop"));
  const std::string other = PushFile("src/app.py", "print('hi')\n", "code change");
  auto edit = EditDescription("shop", "edited after a code push");
  ASSERT_OK(edit);
  EXPECT_EQ(GitOut("-C " + origin_ + " rev-parse main^"), other);
  EXPECT_THAT(OriginFile(kPath), HasSubstr("edited after a code push"));
  EXPECT_EQ(OriginFile("src/app.py"), "print('hi')");
}

TEST_F(GitOpsTest, APushRejectedBecauseTheBranchMovedIsRetriedWithBackoffOnTheNewHead) {
  Create(Spec());
  ASSERT_OK(Enable("shop"));
  std::string racer;
  files_->before_push = [&] { racer = PushFile("src/race.c", "int x;\n", "racing push"); };
  const absl::Time before = clock_.Now();
  auto edit = EditDescription("shop", "edited during a race");
  ASSERT_OK(edit);
  ASSERT_FALSE(racer.empty());
  // The first push was refused (the branch had moved); the second, on the new head, went in.
  EXPECT_EQ(GitOut("-C " + origin_ + " rev-parse main^"), racer);
  EXPECT_THAT(OriginFile(kPath), HasSubstr("edited during a race"));
  EXPECT_EQ(OriginFile("src/race.c"), "int x;");
  EXPECT_GE(clock_.Now() - before, absl::Milliseconds(1));  // it waited before retrying
  EXPECT_THAT(gitops_->Get("shop")->status(), HasSubstr("written back after 2 push attempts"));
  EXPECT_EQ(LatestRevision("shop").git_sha(), OriginHead());
}

TEST_F(GitOpsTest, DeletingTheFilePausesSyncAndKeepsThePipeline) {
  Create(Spec());
  ASSERT_OK(Enable("shop"));
  const int64_t revision = Stored("shop").revision();
  Git("-C " + work_ + " pull -q --rebase origin main");
  Git("-C " + work_ + " rm -q " + kPath);
  Git("-C " + work_ + " commit -q -m 'drop the pipeline file'");
  Git("-C " + work_ + " push -q origin main");
  const std::string sha = OriginHead();
  trigger::IntakeResult r = DeliverPush(sha, {kPath});
  ASSERT_GE(r.delivery.matches_size(), 1);
  EXPECT_THAT(r.delivery.matches(0).gitops(), HasSubstr("paused"));
  auto b = gitops_->Get("shop");
  ASSERT_OK(b);
  EXPECT_EQ(b->state(), v1::GITOPS_STATE_PAUSED);
  EXPECT_THAT(b->status(), HasSubstr("deleted at " + sha.substr(0, 12)));
  EXPECT_EQ(Stored("shop").revision(), revision);
  // Edits through the API are refused while paused, naming what to do.
  auto edit = EditDescription("shop", "edited while paused");
  EXPECT_TRUE(absl::IsFailedPrecondition(edit.status())) << edit.status();
}

TEST_F(GitOpsTest, TwoPipelinesFromOneFileKeepTheirOwnOverrides) {
  v1::Pipeline us = Spec("shop");
  (*us.mutable_argument_overrides())["region"] = "us-east";
  v1::Pipeline eu = Spec("shop-eu");
  (*eu.mutable_argument_overrides())["region"] = "eu-west";
  Create(us);
  Create(eu);
  ASSERT_OK(Enable("shop"));
  ASSERT_OK(Enable("shop-eu"));  // the file exists now: shop-eu takes it
  std::string edited = WorkFile(kPath);
  edited.replace(edited.find("the shop"), 8, "one file, two shops");
  const std::string sha = PushFile(kPath, edited, "describe both");
  trigger::IntakeResult r = DeliverPush(sha, {kPath});
  EXPECT_EQ(r.status, 200) << r.message;
  for (const char* name : {"shop", "shop-eu"}) {
    EXPECT_EQ(Stored(name).description(), "one file, two shops") << name;
    EXPECT_EQ(gitops_->Get(name)->synced_sha(), sha) << name;
  }
  EXPECT_EQ(Stored("shop").argument_overrides().at("region"), "us-east");
  EXPECT_EQ(Stored("shop-eu").argument_overrides().at("region"), "eu-west");
}

TEST_F(GitOpsTest, AfterACrashBetweenThePushAndTheStoreGitAndSlipwayAgree) {
  Create(Spec());
  ASSERT_OK(Enable("shop"));
  v1::Pipeline next = pipeline::SpecOf(Stored("shop"));
  next.set_description("pushed, then the process died");
  pipeline::Author author{"token:tok-2", "ci-bot", v1::REVISION_SOURCE_CLI};
  // The edit is pushed; the process "dies" before its transaction commits.
  absl::Status s = gitops_->WriteBackThen(
      "shop", next, author, "",
      [](const pipeline::WrittenBack&) { return absl::UnavailableError("killed"); });
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(OriginFile(kPath), HasSubstr("pushed, then the process died"));
  EXPECT_EQ(Stored("shop").description(), "the shop");
  // After a restart, the first sync takes the file from Git.
  Restart();
  gitops_->SyncAll();
  EXPECT_EQ(Stored("shop").description(), "pushed, then the process died");
  EXPECT_EQ(gitops_->Get("shop")->synced_sha(), OriginHead());
  EXPECT_EQ(LatestRevision("shop").git_sha(), OriginHead());
}

TEST_F(GitOpsTest, APolledPushAppliesTheFileToo) {
  v1::Pipeline spec = Spec();
  spec.mutable_sources(0)->mutable_poll_interval()->set_seconds(60);
  Create(spec);
  ASSERT_OK(Enable("shop"));
  trigger::Libgit2RefLister lister(dir_.File("mirrors"));
  trigger::Poller poller(db_.get(), intake_.get(), &lister, &clock_);
  ASSERT_OK(poller.Tick());  // the first poll records what is there
  std::string edited = WorkFile(kPath);
  edited.replace(edited.find("the shop"), 8, "polled shop");
  const std::string sha = PushFile(kPath, edited, "polled edit");
  clock_.Advance(absl::Minutes(1));
  auto polled = poller.Tick();
  ASSERT_OK(polled);
  EXPECT_EQ(polled->events, 1);
  EXPECT_EQ(Stored("shop").description(), "polled shop");
  EXPECT_EQ(LatestRevision("shop").git_sha(), sha);
  auto deliveries = intake_->List("shop", 1);
  ASSERT_OK(deliveries);
  ASSERT_FALSE(deliveries->empty());
  bool noted = false;
  for (const auto& m : deliveries->front().matches()) {
    noted = noted || absl::StrContains(m.gitops(), "synced at " + sha.substr(0, 12));
  }
  EXPECT_TRUE(noted) << deliveries->front().DebugString();
}

TEST_F(GitOpsTest, AfterDisableAPushOfTheFileChangesNothing) {
  Create(Spec());
  ASSERT_OK(Enable("shop"));
  v1::DisableGitOpsRequest off;
  off.set_pipeline("shop");
  ASSERT_OK(gitops_->Disable(off));
  EXPECT_TRUE(absl::IsNotFound(gitops_->Disable(off)));
  std::string edited = WorkFile(kPath);
  edited.replace(edited.find("the shop"), 8, "not synced");
  const std::string sha = PushFile(kPath, edited, "after disable");
  trigger::IntakeResult r = DeliverPush(sha, {kPath});
  for (const auto& m : r.delivery.matches()) EXPECT_EQ(m.gitops(), "");
  EXPECT_EQ(Stored("shop").description(), "the shop");
  // Edits stay in Slipway.
  const std::string head = OriginHead();
  ASSERT_OK(EditDescription("shop", "only in slipway"));
  EXPECT_EQ(OriginHead(), head);
}

TEST_F(GitOpsTest, BindingsAreChecked) {
  Create(Spec());
  v1::EnableGitOpsRequest req;
  req.set_pipeline("shop");
  req.set_source("nope");
  EXPECT_THAT(gitops_->Enable(req, {}).status().message(), HasSubstr("has no source \"nope\""));
  req.set_source("app");
  req.set_path("../etc/passwd");
  EXPECT_THAT(gitops_->Enable(req, {}).status().message(), HasSubstr("path:"));
  req.set_path(kPath);
  req.set_branch("bad..branch");
  EXPECT_THAT(gitops_->Enable(req, {}).status().message(), HasSubstr("branch:"));
  req.set_branch("missing");
  EXPECT_TRUE(absl::IsNotFound(gitops_->Enable(req, {}).status()));
  EXPECT_TRUE(absl::IsNotFound(gitops_->Get("shop").status()));
  // An unreachable repository: nothing is bound, and the error never shows URL credentials.
  v1::Pipeline remote = Spec("remote");
  remote.mutable_sources(0)->set_clone_url("http://ci:tok-SECRET-9@127.0.0.1:1/acme/shop.git");
  Create(remote);
  req.set_pipeline("remote");
  req.set_branch("main");
  auto unreachable = gitops_->Enable(req, {});
  EXPECT_TRUE(absl::IsUnavailable(unreachable.status())) << unreachable.status();
  EXPECT_THAT(unreachable.status().message(), Not(HasSubstr("SECRET-9")));
  EXPECT_TRUE(absl::IsNotFound(gitops_->Get("remote").status()));
  // An edit of an unbound pipeline does not touch Git.
  const std::string head = OriginHead();
  ASSERT_OK(EditDescription("shop", "not bound"));
  EXPECT_EQ(OriginHead(), head);
}

}  // namespace
}  // namespace slipway::gitops
