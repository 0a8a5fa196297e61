// Webhook intake over real HTTP to a running server: every shared fixture, signed the way its
// host signs, produces the expected status and run; wrong, missing and replayed deliveries,
// truncated and oversize bodies, unknown repositories and held stages do not start anything.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/proto_yaml.h"
#include "common/random.h"
#include "slipway/v1/delivery_service.grpc.pb.h"
#include "slipway/v1/pipeline_service.grpc.pb.h"
#include "slipway/v1/preview.grpc.pb.h"
#include "slipway/v1/release_service.grpc.pb.h"
#include "tests/testing/fake_driver.h"
#include "tests/testing/test_server.h"
#include "tests/testing/wait.h"
#include "tests/testing/webhook_fixtures.h"

namespace slipway {
namespace {

using ::testing::HasSubstr;
using testing::TestServer;

std::string Fixture(const std::string& name) { return testing::WebhookFixture(name); }

struct Case {
  const char* file;
  const char* provider;  // URL path segment
  const char* event;     // event header value
  int status;
  bool starts_run;
};

const Case kCases[] = {
    {"github/push-branch.json", "github", "push", 200, true},
    {"github/push-branch-created.json", "github", "push", 200, true},
    {"github/push-tag-created.json", "github", "push", 200, true},
    {"github/push-tag-deleted.json", "github", "push", 202, false},
    {"github/pull_request-opened.json", "github", "pull_request", 200, true},
    {"github/pull_request-synchronize.json", "github", "pull_request", 200, true},
    {"github/pull_request-reopened.json", "github", "pull_request", 200, true},
    {"github/pull_request-closed-not-merged.json", "github", "pull_request", 202, false},
    {"github/pull_request-labeled.json", "github", "pull_request", 202, false},
    {"github/ping.json", "github", "ping", 200, false},
    {"gitlab/push-branch.json", "gitlab", "Push Hook", 200, true},
    {"gitlab/push-branch-created.json", "gitlab", "Push Hook", 200, true},
    {"gitlab/push-branch-deleted.json", "gitlab", "Push Hook", 200, true},
    {"gitlab/tag_push-created.json", "gitlab", "Tag Push Hook", 200, true},
    {"gitlab/merge_request-open.json", "gitlab", "Merge Request Hook", 200, true},
    {"gitlab/merge_request-open-docs.json", "gitlab", "Merge Request Hook", 200, true},
    {"gitlab/merge_request-update.json", "gitlab", "Merge Request Hook", 200, true},
    {"gitlab/merge_request-merge.json", "gitlab", "Merge Request Hook", 202, false},
    {"gitlab/merge_request-close.json", "gitlab", "Merge Request Hook", 202, false},
    {"gitea/push-branch.json", "gitea", "push", 200, true},
    {"gitea/push-branch-created.json", "gitea", "push", 200, true},
    {"gitea/pull_request-opened.json", "gitea", "pull_request", 200, true},
    {"gitea/pull_request-synchronized.json", "gitea", "pull_request", 200, true},
    {"gitea/pull_request-closed-merged.json", "gitea", "pull_request", 202, false},
    {"bitbucket/repo-push.json", "bitbucket", "repo:push", 200, true},
    {"bitbucket/pullrequest-created.json", "bitbucket", "pullrequest:created", 200, true},
    {"bitbucket/pullrequest-updated.json", "bitbucket", "pullrequest:updated", 200, true},
    {"bitbucket/pullrequest-fulfilled.json", "bitbucket", "pullrequest:fulfilled", 202, false},
};

constexpr char kSecret[] = "s3cret";

httplib::Headers SignedHeaders(const Case& c, const std::string& body, const std::string& id,
                               const std::string& signature_override = "-") {
  std::string provider = c.provider;
  std::string mac = HmacSha256Hex(kSecret, body);
  httplib::Headers h;
  auto sig = [&](const std::string& value) {
    return signature_override == "-" ? value : signature_override;
  };
  if (provider == "github") {
    h = {{"X-GitHub-Event", c.event}, {"X-GitHub-Delivery", id}};
    if (signature_override.empty()) return h;
    h.emplace("X-Hub-Signature-256", sig("sha256=" + mac));
  } else if (provider == "gitlab") {
    h = {{"X-Gitlab-Event", c.event}, {"Idempotency-Key", id}};
    if (signature_override.empty()) return h;
    h.emplace("X-Gitlab-Token", sig(kSecret));
  } else if (provider == "gitea") {
    h = {{"X-Gitea-Event", c.event}, {"X-Gitea-Delivery", id}};
    if (signature_override.empty()) return h;
    h.emplace("X-Gitea-Signature", sig(mac));
  } else {
    h = {{"X-Event-Key", c.event}, {"X-Request-UUID", id}};
    if (signature_override.empty()) return h;
    h.emplace("X-Hub-Signature", sig("sha256=" + mac));
  }
  return h;
}

class WebhookTest : public ::testing::Test {
 protected:
  static server::ServerOptions Options() {
    server::ServerOptions o;
    o.max_webhook_bytes = 256 * 1024;
    return o;
  }
  void SetUp() override {
    // One pipeline source per fixture repository; one stage listening to every Git event.
    std::string yaml = "name: hooks\nsources:\n";
    std::map<std::string, std::string> seen;
    int n = 0;
    for (const auto& c : kCases) {
      std::string body = Fixture(c.file);
      auto event = nlohmann::json::parse(body);
      std::string repo = event.contains("repository") && event["repository"].contains("full_name")
                             ? event["repository"]["full_name"].get<std::string>()
                             : event["project"]["path_with_namespace"].get<std::string>();
      std::string key = std::string(c.provider) + " " + repo;
      if (seen.contains(key)) continue;
      std::string name = "s" + std::to_string(n++);
      seen[key] = name;
      yaml += "  - {name: " + name + ", provider: " + c.provider + ", repository: \"" + repo +
              "\", webhook_secret: {value: " + kSecret + "}}\n";
    }
    yaml +=
        "stages:\n  - name: ci\n    concurrency: allow\n"
        "    resources: [{name: web, driver: process, process: {command: [web]}}]\n"
        "    triggers:\n";
    for (const auto& [key, name] : seen) {
      yaml += "      - git: {source: " + name +
              ", events: [push, tag, pull_request, branch_deleted]}\n";
    }
    yaml += "    flow: {sequential: [{ref: web, skip_if: \"true\", deploy: {resource: web}}]}\n";
    v1::ApplyPipelineRequest req;
    ASSERT_TRUE(ParseYaml(yaml, req.mutable_pipeline()).ok()) << yaml;
    v1::ApplyPipelineResponse resp;
    auto stub = v1::PipelineService::NewStub(server_.Channel());
    auto s = stub->ApplyPipeline(TestServer::Context(server_.admin_token()).get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  int Runs() {
    auto stub = v1::ReleaseService::NewStub(server_.Channel());
    v1::ListRunsRequest req;
    req.set_page_size(100);
    v1::ListRunsResponse resp;
    EXPECT_TRUE(stub->ListRuns(TestServer::Context(server_.admin_token()).get(), req, &resp).ok());
    return resp.runs_size();
  }
  httplib::Result Post(const Case& c, const std::string& body, const httplib::Headers& h) {
    httplib::Client http("127.0.0.1", server_.http_port());
    return http.Post(std::string("/hooks/") + c.provider, h, body, "application/json");
  }

  TestServer server_{Options()};
};

TEST_F(WebhookTest, EveryFixtureSignedCorrectlyStartsWhatItShould) {
  int runs = 0;
  int i = 0;
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.file);
    std::string body = Fixture(c.file);
    auto res = Post(c, body, SignedHeaders(c, body, "id-" + std::to_string(i++)));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, c.status) << res->body;
    if (c.starts_run) ++runs;
    EXPECT_EQ(Runs(), runs) << res->body;
  }
}

TEST_F(WebhookTest, WrongMissingAndReplayedDeliveriesStartNothing) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.file);
    if (std::string(c.event) == "ping") continue;
    std::string body = Fixture(c.file);
    int before = Runs();
    auto wrong = Post(c, body, SignedHeaders(c, body, "w", "sha256=0000"));
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    auto missing = Post(c, body, SignedHeaders(c, body, "m", ""));
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 401);
    EXPECT_THAT(missing->body, HasSubstr("signature missing"));
    EXPECT_EQ(Runs(), before);
    if (!c.starts_run) continue;
    auto first = Post(c, body, SignedHeaders(c, body, std::string("r-") + c.file));
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 200);
    auto replay = Post(c, body, SignedHeaders(c, body, std::string("r-") + c.file));
    ASSERT_TRUE(replay);
    EXPECT_EQ(replay->status, 200);
    EXPECT_THAT(replay->body, HasSubstr("duplicate"));
    EXPECT_EQ(Runs(), before + 1);
  }
}

TEST_F(WebhookTest, TruncatedOversizeAndUnknownDeliveriesGetHonestStatuses) {
  const Case& push = kCases[0];
  std::string body = Fixture(push.file);
  std::string half = body.substr(0, body.size() / 2);
  auto truncated = Post(push, half, SignedHeaders(push, half, "t"));
  ASSERT_TRUE(truncated);
  EXPECT_EQ(truncated->status, 400);
  EXPECT_THAT(truncated->body, HasSubstr("not a JSON object"));

  std::string huge(300 * 1024, ' ');
  auto oversize = Post(push, huge, SignedHeaders(push, huge, "o"));
  ASSERT_TRUE(oversize);
  EXPECT_EQ(oversize->status, 413);

  std::string other = body;
  size_t at = other.find("woodpecker-ci/woodpecker");
  ASSERT_NE(at, std::string::npos);
  other.replace(at, 24, "nobody-xx/nothing-here12");
  auto unknown = Post(push, other, SignedHeaders(push, other, "u"));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(Runs(), 0);
}

TEST_F(WebhookTest, IdleKeepAliveConnectionsDoNotHoldBackDeliveries) {
  // Clients that keep their connections open (scrapers, proxies) hold no handler thread; a
  // delivery on a new connection is answered while they wait.
  std::vector<std::unique_ptr<httplib::Client>> idle;
  for (int i = 0; i < 24; ++i) {
    idle.push_back(std::make_unique<httplib::Client>("127.0.0.1", server_.http_port()));
    idle.back()->set_keep_alive(true);
    auto res = idle.back()->Get("/healthz");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
  }
  const Case& push = kCases[0];
  std::string body = Fixture(push.file);
  httplib::Client http("127.0.0.1", server_.http_port());
  http.set_read_timeout(3, 0);
  auto res = http.Post("/hooks/github", SignedHeaders(push, body, "behind-idle"), body,
                       "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Runs(), 1);
}

TEST_F(WebhookTest, ABurstOfNewConnectionsIsServedWithoutDrops) {
  // 100 deliveries, each on its own new connection, all at once (a Git host catching up).
  // A connection the server's listen queue drops is retried by the kernel only after a
  // second, so a half-second connect timeout turns a drop into a failure.
  const Case& push = kCases[0];
  const std::string body = Fixture(push.file);
  constexpr int kBurst = 100;
  std::vector<int> statuses(kBurst, 0);
  std::vector<std::string> errors(kBurst);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kBurst; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client http("127.0.0.1", server_.http_port());
      http.set_connection_timeout(0, 500 * 1000);
      http.set_read_timeout(30, 0);
      ++ready;
      while (ready.load() < kBurst) std::this_thread::yield();
      auto res = http.Post("/hooks/github", SignedHeaders(push, body, "burst-" + std::to_string(i)),
                           body, "application/json");
      if (res)
        statuses[i] = res->status;
      else
        errors[i] = httplib::to_string(res.error());
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kBurst; ++i) {
    EXPECT_EQ(statuses[i], 200) << "delivery " << i << ": " << errors[i];
  }
  EXPECT_EQ(Runs(), 100);
}

TEST_F(WebhookTest, ABitbucketPushToSeveralRefsActsOnEachRef) {
  // The fixture's change to master, plus develop (its commit says [skip ci]), a new tag and a
  // deleted branch, in one signed delivery.
  const std::string body = testing::BitbucketPushToSeveralRefs(std::string(40, '2'));
  const Case bitbucket{"", "bitbucket", "repo:push", 200, true};
  auto res = Post(bitbucket, body, SignedHeaders(bitbucket, body, "several-refs"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto answer = nlohmann::json::parse(res->body);
  EXPECT_EQ(answer["runs"].size(), 3u) << res->body;
  EXPECT_EQ(Runs(), 3);

  auto deliveries = v1::DeliveryService::NewStub(server_.Channel());
  v1::GetDeliveryRequest get;
  get.set_id(answer["delivery"].get<std::string>());
  v1::Delivery d;
  ASSERT_TRUE(
      deliveries->GetDelivery(TestServer::Context(server_.admin_token()).get(), get, &d).ok());
  std::map<std::string, std::string> by_ref;  // ref -> run id or why skipped
  for (const auto& m : d.matches()) by_ref[m.ref()] = m.run_id().empty() ? m.skipped() : "run";
  EXPECT_EQ(by_ref["branch master"], "run");
  EXPECT_THAT(by_ref["branch develop"], HasSubstr("[skip ci]"));
  EXPECT_EQ(by_ref["tag v9.0"], "run");
  EXPECT_EQ(by_ref["branch old-feature"], "run");
  EXPECT_EQ(by_ref.size(), 4u);

  // A redelivery matches every ref again from the stored event.
  v1::RedeliverRequest again;
  again.set_id(d.id());
  v1::Delivery redelivered;
  ASSERT_TRUE(
      deliveries->Redeliver(TestServer::Context(server_.admin_token()).get(), again, &redelivered)
          .ok());
  EXPECT_EQ(redelivered.matches_size(), 4);
  EXPECT_EQ(Runs(), 6);
}

TEST_F(WebhookTest, AMergeRequestWhoseHeadCommitSaysSkipCiStartsNothing) {
  const Case mr{"", "gitlab", "Merge Request Hook", 202, false};
  auto j = nlohmann::json::parse(Fixture("gitlab/merge_request-update.json"));
  j["object_attributes"]["last_commit"]["message"] = "Update folder/todo.txt [skip ci]";
  const std::string body = j.dump();
  auto res = Post(mr, body, SignedHeaders(mr, body, "mr-skip"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202) << res->body;
  EXPECT_EQ(Runs(), 0);
}

TEST_F(WebhookTest, AHeldStageRecordsTheTriggerAsSkipped) {
  auto stub = v1::ReleaseService::NewStub(server_.Channel());
  v1::HoldStageRequest hold;
  hold.set_pipeline("hooks");
  hold.set_stage("ci");
  hold.set_reason("incident 42");
  v1::StageHold h;
  ASSERT_TRUE(stub->HoldStage(TestServer::Context(server_.admin_token()).get(), hold, &h).ok());
  const Case& push = kCases[0];
  std::string body = Fixture(push.file);
  auto res = Post(push, body, SignedHeaders(push, body, "held"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_NE(res->body.find("matched, nothing started"), std::string::npos) << res->body;
  EXPECT_EQ(Runs(), 0);
  // The hold lifted, the next delivery starts the stage (the intake reads the holds afresh).
  v1::ReleaseHoldRequest lift;
  lift.set_pipeline("hooks");
  lift.set_stage("ci");
  v1::ReleaseHoldResponse lifted;
  ASSERT_TRUE(
      stub->ReleaseHold(TestServer::Context(server_.admin_token()).get(), lift, &lifted).ok());
  auto again = Post(push, body, SignedHeaders(push, body, "after-hold"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(Runs(), 1);
}

// Every provider's pull-request fixtures, signed, drive a preview through its whole life:
// opened creates it, the update keeps its name, closed or merged tears it down.
class PreviewWebhookTest : public ::testing::Test {
 protected:
  static server::ServerOptions Options(testing::FakeDriver* driver) {
    server::ServerOptions o;
    o.driver_overrides = {{"process", driver}};
    return o;
  }
  void SetUp() override {
    std::string yaml;
    // A source per repository the pull-request fixtures name.
    std::map<std::string, std::string> sources;  // "provider repo" -> source name
    yaml = "name: previews\nsources:\n";
    for (const auto& c : kCases) {
      if (std::string(c.event).find("ull") == std::string::npos &&
          std::string(c.event) != "Merge Request Hook") {
        continue;
      }
      auto event = nlohmann::json::parse(Fixture(c.file));
      std::string repo = event.contains("repository") && event["repository"].contains("full_name")
                             ? event["repository"]["full_name"].get<std::string>()
                             : event["project"]["path_with_namespace"].get<std::string>();
      std::string key = std::string(c.provider) + " " + repo;
      if (sources.contains(key)) continue;
      std::string name = "s" + std::to_string(sources.size());
      sources[key] = name;
      yaml += "  - {name: " + name + ", provider: " + c.provider + ", repository: \"" + repo +
              "\", webhook_secret: {value: " + kSecret + "}}\n";
    }
    yaml +=
        "stages:\n  - name: ci\n    resources: [{name: web, driver: process, process: "
        "{command: [web]}}]\n    flow: {sequential: [{ref: web, deploy: {resource: web}}]}\n"
        "preview_blueprints:\n  - name: pr\n    triggers:\n";
    for (const auto& [key, name] : sources) {
      yaml += "      - pull_request: {source: " + name + "}\n";
    }
    yaml +=
        "    resources: [{name: web, driver: process, process: {command: [web, "
        "\"${trigger.sha}\"]}}]\n";
    v1::ApplyPipelineRequest req;
    ASSERT_TRUE(ParseYaml(yaml, req.mutable_pipeline()).ok()) << yaml;
    v1::ApplyPipelineResponse resp;
    auto s = v1::PipelineService::NewStub(server_.Channel())
                 ->ApplyPipeline(TestServer::Context(server_.admin_token()).get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // The preview a delivery acted on, and how ("create", "update", "teardown"), or empty.
  // `same_as` (a fixture) makes the delivery about that fixture's repository and pull request:
  // the GitLab and Gitea fixtures come from different repositories, so their update and close
  // payloads are moved onto the opened one (and signed as they are sent).
  std::pair<std::string, std::string> Send(const char* file, const std::string& id,
                                           const char* same_as = nullptr) {
    for (const auto& c : kCases) {
      if (std::string(c.file) != file) continue;
      std::string body = Fixture(c.file);
      if (same_as != nullptr) {
        auto j = nlohmann::json::parse(body);
        auto from = nlohmann::json::parse(Fixture(same_as));
        if (std::string(c.provider) == "gitlab") {
          j["project"] = from["project"];
          for (const char* k : {"iid", "source_branch", "target_project_id", "source_project_id"}) {
            if (from["object_attributes"].contains(k)) {
              j["object_attributes"][k] = from["object_attributes"][k];
            }
          }
        } else {
          j["repository"] = from["repository"];
          j["number"] = from["number"];
          j["pull_request"]["number"] = from["pull_request"]["number"];
          j["pull_request"]["head"]["ref"] = from["pull_request"]["head"]["ref"];
        }
        body = j.dump();
      }
      httplib::Client http("127.0.0.1", server_.http_port());
      auto res = http.Post(std::string("/hooks/") + c.provider, SignedHeaders(c, body, id), body,
                           "application/json");
      EXPECT_TRUE(res);
      if (!res) return {};
      // 202: an update that finds the preview current changes nothing.
      EXPECT_TRUE(res->status == 200 || res->status == 202) << file << ": " << res->body;
      auto j = nlohmann::json::parse(res->body);
      if (!j.contains("previews")) return {};
      return {j["previews"][0]["preview"], j["previews"][0]["action"]};
    }
    ADD_FAILURE() << "no case " << file;
    return {};
  }

  v1::Preview WaitFor(const std::string& name, v1::PreviewState state) {
    auto stub = v1::PreviewService::NewStub(server_.Channel());
    v1::Preview p;
    bool reached = testing::WaitUntil([&] {
      v1::GetPreviewRequest req;
      req.set_name(name);
      p.Clear();
      return stub->GetPreview(TestServer::Context(server_.admin_token()).get(), req, &p).ok() &&
             p.state() == state;
    });
    EXPECT_TRUE(reached) << name << " never reached " << v1::PreviewState_Name(state) << "; it is "
                         << v1::PreviewState_Name(p.state()) << ": " << p.message();
    return p;
  }

  testing::FakeDriver driver_;
  TestServer server_{Options(&driver_)};
};

TEST_F(PreviewWebhookTest, EveryProvidersPullRequestFixturesCreateUpdateAndTearDownAPreview) {
  struct Life {
    const char* open;
    const char* update;
    const char* close;
    bool move = false;  // move update and close onto the opened pull request
  };
  const Life lives[] = {
      {"github/pull_request-opened.json", "github/pull_request-synchronize.json",
       "github/pull_request-closed-not-merged.json"},
      {"gitlab/merge_request-open.json", "gitlab/merge_request-update.json",
       "gitlab/merge_request-merge.json", true},
      {"gitea/pull_request-opened.json", "gitea/pull_request-synchronized.json",
       "gitea/pull_request-closed-merged.json", true},
      {"bitbucket/pullrequest-created.json", "bitbucket/pullrequest-updated.json",
       "bitbucket/pullrequest-fulfilled.json"},
  };
  // All four live at once: pr-1 and pr-2 come from several hosts, and every name is distinct.
  std::vector<std::string> names;
  std::set<std::string> distinct;
  int n = 0;
  for (const Life& life : lives) {
    SCOPED_TRACE(life.open);
    auto [name, action] = Send(life.open, "o" + std::to_string(n++));
    EXPECT_EQ(action, "create");
    ASSERT_FALSE(name.empty());
    EXPECT_TRUE(distinct.insert(name).second) << "two live previews named " << name;
    names.push_back(name);
  }
  n = 0;
  for (const Life& life : lives) {
    SCOPED_TRACE(life.update);
    const std::string& name = names[n];
    v1::Preview ready = WaitFor(name, v1::PREVIEW_STATE_READY);
    EXPECT_GT(ready.subject().pull_request(), 0);
    EXPECT_FALSE(ready.subject().sha().empty());
    auto [same, updated] =
        Send(life.update, "u" + std::to_string(n++), life.move ? life.open : nullptr);
    if (!same.empty()) {
      EXPECT_EQ(same, name);  // an update either changes it or finds it current
    }
  }
  n = 0;
  for (const Life& life : lives) {
    SCOPED_TRACE(life.close);
    const std::string& name = names[n];
    WaitFor(name, v1::PREVIEW_STATE_READY);
    auto [closed, teardown] =
        Send(life.close, "c" + std::to_string(n++), life.move ? life.open : nullptr);
    EXPECT_EQ(closed, name);
    EXPECT_EQ(teardown, "teardown");
    WaitFor(name, v1::PREVIEW_STATE_DELETED);
    EXPECT_THAT(driver_.teardowns(), ::testing::Contains("previews/preview:" + name + "/web"));
  }
}

// Signs and posts `body` as `provider`'s `event`; the HTTP status and the answer.
std::pair<int, nlohmann::json> PostSigned(int port, const char* provider, const char* event,
                                          const std::string& body, const std::string& id) {
  const Case c{"", provider, event, 200, false};
  httplib::Client http("127.0.0.1", port);
  auto res = http.Post(std::string("/hooks/") + provider, SignedHeaders(c, body, id), body,
                       "application/json");
  if (!res) return {-1, {}};
  return {res->status, nlohmann::json::parse(res->body)};
}

TEST_F(PreviewWebhookTest, AGiteaDeleteEventTearsDownThePreviewOfItsBranch) {
  auto [name, action] = Send("gitea/pull_request-opened.json", "gitea-open");
  ASSERT_EQ(action, "create");
  v1::Preview ready = WaitFor(name, v1::PREVIEW_STATE_READY);
  // Gitea's delete event: the bare branch name and its type, no push with a zero SHA.
  auto opened = nlohmann::json::parse(Fixture("gitea/pull_request-opened.json"));
  nlohmann::json del = {{"ref", ready.subject().branch()},
                        {"ref_type", "branch"},
                        {"pusher_type", "user"},
                        {"repository", opened["repository"]},
                        {"sender", opened["sender"]}};
  auto [status, answer] = PostSigned(server_.http_port(), "gitea", "delete", del.dump(), "gd-1");
  ASSERT_EQ(status, 200) << answer.dump();
  ASSERT_TRUE(answer.contains("previews")) << answer.dump();
  EXPECT_EQ(answer["previews"][0]["preview"], name);
  EXPECT_EQ(answer["previews"][0]["action"], "teardown");
  WaitFor(name, v1::PREVIEW_STATE_DELETED);
}

TEST_F(PreviewWebhookTest, APreviewMadeThroughTheApiGoesWhenItsBranchIsDeleted) {
  // A blueprint that listens to pull requests only; its preview is made by hand for a branch.
  auto pr = nlohmann::json::parse(Fixture("github/pull_request-opened.json"));
  const std::string repo = pr["repository"]["full_name"];
  std::string yaml = "name: by-hand\nsources:\n  - {name: app, provider: github, repository: \"" +
                     repo + "\", webhook_secret: {value: " + kSecret +
                     "}}\nstages:\n  - name: ci\n    resources: [{name: web, driver: process, "
                     "process: {command: [web]}}]\n    flow: {sequential: [{ref: web, deploy: "
                     "{resource: web}}]}\npreview_blueprints:\n  - name: pr\n    triggers: "
                     "[{pull_request: {source: app}}]\n    resources: [{name: web, driver: "
                     "process, process: {command: [web]}}]\n";
  v1::ApplyPipelineRequest apply;
  ASSERT_TRUE(ParseYaml(yaml, apply.mutable_pipeline()).ok()) << yaml;
  v1::ApplyPipelineResponse applied;
  ASSERT_TRUE(v1::PipelineService::NewStub(server_.Channel())
                  ->ApplyPipeline(TestServer::Context(server_.admin_token()).get(), apply, &applied)
                  .ok());
  v1::CreatePreviewRequest create;
  create.set_pipeline("by-hand");
  create.set_branch("feature/made-by-hand");
  create.set_sha(std::string(40, 'a'));
  v1::Preview made;
  auto s = v1::PreviewService::NewStub(server_.Channel())
               ->CreatePreview(TestServer::Context(server_.admin_token()).get(), create, &made);
  ASSERT_TRUE(s.ok()) << s.error_message();
  WaitFor(made.name(), v1::PREVIEW_STATE_READY);

  // GitHub's push for the deleted branch.
  auto push = nlohmann::json::parse(Fixture("github/push-branch.json"));
  push["repository"] = pr["repository"];
  push["ref"] = "refs/heads/feature/made-by-hand";
  push["after"] = std::string(40, '0');
  push["deleted"] = true;
  push["created"] = false;
  push["commits"] = nlohmann::json::array();
  push["head_commit"] = nullptr;
  auto [status, answer] = PostSigned(server_.http_port(), "github", "push", push.dump(), "gh-del");
  ASSERT_EQ(status, 200) << answer.dump();
  bool torn = false;
  for (const auto& p : answer["previews"]) {
    torn = torn || (p["preview"] == made.name() && p["action"] == "teardown");
  }
  EXPECT_TRUE(torn) << answer.dump();
  WaitFor(made.name(), v1::PREVIEW_STATE_DELETED);
}

TEST_F(WebhookTest, AnEventSlipwayDoesNotHandleSaysSoAndIsListedForThePipeline) {
  std::string issue =
      nlohmann::json::parse(Fixture("github/push-branch.json")).at("repository").dump();
  std::string body = "{\"action\": \"opened\", \"repository\": " + issue + "}";
  const Case issues{"", "github", "issues", 202, false};
  auto res = Post(issues, body, SignedHeaders(issues, body, "an-issue"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_THAT(res->body, HasSubstr("event `issues` is not handled"));

  // It matched nothing, and is listed for the pipeline that binds its repository.
  auto deliveries = v1::DeliveryService::NewStub(server_.Channel());
  v1::ListDeliveriesRequest req;
  req.set_pipeline("hooks");
  v1::ListDeliveriesResponse resp;
  ASSERT_TRUE(
      deliveries->ListDeliveries(TestServer::Context(server_.admin_token()).get(), req, &resp)
          .ok());
  ASSERT_EQ(resp.deliveries_size(), 1);
  EXPECT_EQ(resp.deliveries(0).message(), "event `issues` is not handled");
  EXPECT_EQ(resp.deliveries(0).matches_size(), 0);
  // Another pipeline's listing does not show it.
  req.set_pipeline("someone-else");
  ASSERT_TRUE(
      deliveries->ListDeliveries(TestServer::Context(server_.admin_token()).get(), req, &resp)
          .ok());
  EXPECT_EQ(resp.deliveries_size(), 0);
}

}  // namespace
}  // namespace slipway
