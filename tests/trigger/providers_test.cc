// Every shared webhook fixture parsed into the normalized event, and signature checks.
#include "trigger/providers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/random.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/webhook_fixtures.h"

namespace slipway::trigger {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Fixture(const std::string& name) { return testing::WebhookFixture(name); }

v1::SourceEvent Parse(v1::Provider p, const std::string& header, const std::string& event,
                      const std::string& file) {
  auto e = ParseDelivery(p, {{header, event}}, Fixture(file));
  EXPECT_OK(e) << file;
  return e.ok() ? *e : v1::SourceEvent();
}

TEST(GitHubFixturesTest, Pushes) {
  auto push = Parse(v1::PROVIDER_GITHUB, "x-github-event", "push", "github/push-branch.json");
  EXPECT_EQ(push.kind(), v1::GIT_EVENT_KIND_PUSH);
  EXPECT_EQ(push.repository(), "woodpecker-ci/woodpecker");
  EXPECT_EQ(push.branch(), "main");
  EXPECT_EQ(push.sha(), "366701fde727cb7a9e7f21eb88264f59f6f9b89c");
  EXPECT_EQ(push.commit_messages_size(), 1);
  EXPECT_GT(push.changed_files_size(), 0);

  auto created = Parse(v1::PROVIDER_GITHUB, "x-github-event", "push", "github/push-branch-created.json");
  EXPECT_EQ(created.kind(), v1::GIT_EVENT_KIND_PUSH);
  EXPECT_EQ(created.branch(), "feature-branch");
  EXPECT_TRUE(created.created());
  EXPECT_EQ(created.sha(), "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd");
  EXPECT_EQ(created.commit_messages_size(), 1);  // from head_commit

  auto tag = Parse(v1::PROVIDER_GITHUB, "x-github-event", "push", "github/push-tag-created.json");
  EXPECT_EQ(tag.kind(), v1::GIT_EVENT_KIND_TAG);
  EXPECT_EQ(tag.tag(), "the-tag-v1");
  EXPECT_EQ(tag.sha(), "67012991d6c69b1c58378346fca366b864d8d1a1");

  auto deleted = Parse(v1::PROVIDER_GITHUB, "x-github-event", "push", "github/push-tag-deleted.json");
  EXPECT_EQ(deleted.kind(), v1::GIT_EVENT_KIND_TAG_DELETED);
  EXPECT_EQ(deleted.tag(), "simple-tag");
  EXPECT_EQ(deleted.sha(), "");
}

TEST(GitHubFixturesTest, PullRequests) {
  struct Case {
    const char* file;
    v1::PullRequestAction action;
  } cases[] = {
      {"github/pull_request-opened.json", v1::PULL_REQUEST_ACTION_OPENED},
      {"github/pull_request-synchronize.json", v1::PULL_REQUEST_ACTION_SYNCHRONIZED},
      {"github/pull_request-reopened.json", v1::PULL_REQUEST_ACTION_REOPENED},
      // merge_commit_sha is set but merged is false: closed, not merged.
      {"github/pull_request-closed-not-merged.json", v1::PULL_REQUEST_ACTION_CLOSED},
      {"github/pull_request-labeled.json", v1::PULL_REQUEST_ACTION_LABELED},
  };
  for (const auto& c : cases) {
    auto e = Parse(v1::PROVIDER_GITHUB, "x-github-event", "pull_request", c.file);
    EXPECT_EQ(e.kind(), v1::GIT_EVENT_KIND_PULL_REQUEST) << c.file;
    EXPECT_EQ(e.pull_request().action(), c.action) << c.file;
    EXPECT_EQ(e.pull_request().number(), 2) << c.file;
    EXPECT_EQ(e.pull_request().head_branch(), "changes") << c.file;
    EXPECT_EQ(e.pull_request().base_branch(), "master") << c.file;
    EXPECT_EQ(e.sha(), "ec26c3e57ca3a959ca5aad62de7213c562f8c821") << c.file;
    EXPECT_EQ(e.repository(), "Codertocat/Hello-World") << c.file;
  }
  auto labeled = Parse(v1::PROVIDER_GITHUB, "x-github-event", "pull_request", "github/pull_request-labeled.json");
  EXPECT_GT(labeled.pull_request().labels_size(), 0);
  auto ping = Parse(v1::PROVIDER_GITHUB, "x-github-event", "ping", "github/ping.json");
  EXPECT_EQ(ping.kind(), v1::GIT_EVENT_KIND_PING);
}

TEST(GitLabFixturesTest, PushesAndMergeRequests) {
  auto push = Parse(v1::PROVIDER_GITLAB, "x-gitlab-event", "Push Hook", "gitlab/push-branch.json");
  EXPECT_EQ(push.kind(), v1::GIT_EVENT_KIND_PUSH);
  EXPECT_EQ(push.branch(), "master");
  EXPECT_EQ(push.sha(), "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
  EXPECT_EQ(push.commit_messages_size(), 2);  // total_commits_count says 4; only 2 listed
  auto created = Parse(v1::PROVIDER_GITLAB, "x-gitlab-event", "Push Hook", "gitlab/push-branch-created.json");
  EXPECT_TRUE(created.created());
  EXPECT_EQ(created.branch(), "feature");
  auto deleted = Parse(v1::PROVIDER_GITLAB, "x-gitlab-event", "Push Hook", "gitlab/push-branch-deleted.json");
  EXPECT_EQ(deleted.kind(), v1::GIT_EVENT_KIND_BRANCH_DELETED);
  EXPECT_EQ(deleted.branch(), "feature");
  EXPECT_EQ(deleted.sha(), "");
  auto tag = Parse(v1::PROVIDER_GITLAB, "x-gitlab-event", "Tag Push Hook", "gitlab/tag_push-created.json");
  EXPECT_EQ(tag.kind(), v1::GIT_EVENT_KIND_TAG);
  EXPECT_EQ(tag.tag(), "v1.0.0");

  auto open = Parse(v1::PROVIDER_GITLAB, "x-gitlab-event", "Merge Request Hook", "gitlab/merge_request-open.json");
  EXPECT_EQ(open.pull_request().action(), v1::PULL_REQUEST_ACTION_OPENED);
  EXPECT_EQ(open.pull_request().number(), 3);
  EXPECT_EQ(open.pull_request().head_branch(), "real6543-main-patch-42541");
  EXPECT_EQ(open.sha(), "2f7670508b771e7e77839402be8b34b13787aba8");
  auto docs = Parse(v1::PROVIDER_GITLAB, "x-gitlab-event", "Merge Request Hook", "gitlab/merge_request-open-docs.json");
  EXPECT_EQ(docs.pull_request().head_branch(), "ms-viewport");
  auto update = Parse(v1::PROVIDER_GITLAB, "x-gitlab-event", "Merge Request Hook", "gitlab/merge_request-update.json");
  EXPECT_EQ(update.pull_request().action(), v1::PULL_REQUEST_ACTION_SYNCHRONIZED);  // oldrev present
  EXPECT_EQ(update.sha(), "c136499ec574e1034b24c5d306de9acda3005367");
  auto merge = Parse(v1::PROVIDER_GITLAB, "x-gitlab-event", "Merge Request Hook", "gitlab/merge_request-merge.json");
  EXPECT_EQ(merge.pull_request().action(), v1::PULL_REQUEST_ACTION_MERGED);
  auto close = Parse(v1::PROVIDER_GITLAB, "x-gitlab-event", "Merge Request Hook", "gitlab/merge_request-close.json");
  EXPECT_EQ(close.pull_request().action(), v1::PULL_REQUEST_ACTION_CLOSED);
  EXPECT_EQ(close.pull_request().number(), 4);
}

TEST(GiteaFixturesTest, PushesAndPullRequests) {
  auto push = Parse(v1::PROVIDER_GITEA, "x-gitea-event", "push", "gitea/push-branch.json");
  EXPECT_EQ(push.kind(), v1::GIT_EVENT_KIND_PUSH);
  EXPECT_EQ(push.branch(), "master");
  EXPECT_EQ(push.sha(), "4522cbcefc20728a5b72b3a86af35e608622c514");
  auto created = Parse(v1::PROVIDER_GITEA, "x-gitea-event", "push", "gitea/push-branch-created.json");
  EXPECT_EQ(created.branch(), "fdsafdsa");
  EXPECT_EQ(created.sha(), "28c3613ae62640216bea5e7dc71aa65356e4298b");
  auto opened = Parse(v1::PROVIDER_GITEA, "x-gitea-event", "pull_request", "gitea/pull_request-opened.json");
  EXPECT_EQ(opened.pull_request().action(), v1::PULL_REQUEST_ACTION_OPENED);
  EXPECT_EQ(opened.pull_request().number(), 1);
  EXPECT_EQ(opened.pull_request().head_branch(), "feature");
  auto sync = Parse(v1::PROVIDER_GITEA, "x-gitea-event", "pull_request", "gitea/pull_request-synchronized.json");
  EXPECT_EQ(sync.pull_request().action(), v1::PULL_REQUEST_ACTION_SYNCHRONIZED);
  EXPECT_EQ(sync.sha(), "788ed8d02d3b7fcfcf6386dbcbca696aa1d4dc25");
  auto merged = Parse(v1::PROVIDER_GITEA, "x-gitea-event", "pull_request", "gitea/pull_request-closed-merged.json");
  EXPECT_EQ(merged.pull_request().action(), v1::PULL_REQUEST_ACTION_MERGED);
  EXPECT_EQ(merged.sha(), "d555a5dd07f4d0148a58d4686ec381502ae6a2d4");
}

TEST(GitLabFixturesTest, AMergeRequestCarriesItsHeadCommitMessage) {
  auto update = Parse(v1::PROVIDER_GITLAB, "x-gitlab-event", "Merge Request Hook",
                      "gitlab/merge_request-update.json");
  EXPECT_THAT(update.commit_messages(), ElementsAre("Update folder/todo.txt"));
}

TEST(BitbucketFixturesTest, PushAndPullRequests) {
  auto push = Parse(v1::PROVIDER_BITBUCKET, "x-event-key", "repo:push", "bitbucket/repo-push.json");
  EXPECT_EQ(push.kind(), v1::GIT_EVENT_KIND_PUSH);
  EXPECT_EQ(push.branch(), "master");
  EXPECT_EQ(push.sha(), "141977fedf5cf35aa290ac87d4b5177ac4cd9de1");
  auto created = Parse(v1::PROVIDER_BITBUCKET, "x-event-key", "pullrequest:created", "bitbucket/pullrequest-created.json");
  EXPECT_EQ(created.pull_request().action(), v1::PULL_REQUEST_ACTION_OPENED);
  EXPECT_EQ(created.pull_request().number(), 1);
  EXPECT_EQ(created.pull_request().head_branch(), "develop");
  EXPECT_EQ(created.sha(), "507a576e59b3");  // abbreviated, as Bitbucket sends it
  auto updated = Parse(v1::PROVIDER_BITBUCKET, "x-event-key", "pullrequest:updated", "bitbucket/pullrequest-updated.json");
  EXPECT_EQ(updated.pull_request().action(), v1::PULL_REQUEST_ACTION_SYNCHRONIZED);
  EXPECT_EQ(updated.sha(), "0704fc5beccc");
  auto fulfilled = Parse(v1::PROVIDER_BITBUCKET, "x-event-key", "pullrequest:fulfilled", "bitbucket/pullrequest-fulfilled.json");
  EXPECT_EQ(fulfilled.pull_request().action(), v1::PULL_REQUEST_ACTION_MERGED);
}

TEST(BitbucketFixturesTest, APushToSeveralRefsIsOneEventPerRef) {
  auto j = nlohmann::json::parse(
      testing::BitbucketPushToSeveralRefs("2222222222222222222222222222222222222222"));
  auto e = ParseDelivery(v1::PROVIDER_BITBUCKET, {{"x-event-key", "repo:push"}}, j.dump());
  ASSERT_OK(e);
  EXPECT_EQ(e->branch(), "master");
  ASSERT_EQ(e->more_refs_size(), 3);
  const auto& develop = e->more_refs(0);
  EXPECT_EQ(develop.kind(), v1::GIT_EVENT_KIND_PUSH);
  EXPECT_EQ(develop.branch(), "develop");
  EXPECT_EQ(develop.sha(), "2222222222222222222222222222222222222222");
  EXPECT_EQ(develop.repository(), e->repository());
  EXPECT_EQ(develop.provider(), v1::PROVIDER_BITBUCKET);
  EXPECT_EQ(develop.event(), "repo:push");
  EXPECT_THAT(develop.commit_messages(), Contains(HasSubstr("[skip ci]")));
  EXPECT_THAT(e->commit_messages(), Not(Contains(HasSubstr("[skip ci]"))));
  EXPECT_EQ(e->more_refs(1).kind(), v1::GIT_EVENT_KIND_TAG);
  EXPECT_EQ(e->more_refs(1).tag(), "v9.0");
  EXPECT_TRUE(e->more_refs(1).created());
  EXPECT_EQ(e->more_refs(2).kind(), v1::GIT_EVENT_KIND_BRANCH_DELETED);
  EXPECT_EQ(e->more_refs(2).branch(), "old-feature");
  EXPECT_EQ(e->more_refs(2).sha(), "");

  j["push"]["changes"].push_back(nlohmann::json{{"new", 5}});
  EXPECT_THAT(ParseDelivery(v1::PROVIDER_BITBUCKET, {{"x-event-key", "repo:push"}}, j.dump()),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("push.changes[4]")));
}

TEST(ProvidersTest, ALargePushIsParsedWithItsListsCapped) {
  // 5,000 commits, one added file each: over 1 MiB, so parsed by a parser of its own.
  auto j = nlohmann::json::parse(Fixture("github/push-branch.json"));
  auto commit = j["commits"][0];
  j["commits"] = nlohmann::json::array();
  for (int i = 0; i < 5000; ++i) {
    commit["message"] = "change " + std::to_string(i) + std::string(100, '.');
    commit["added"] = {"src/file" + std::to_string(i) + ".cc"};
    commit["modified"] = nlohmann::json::array();
    commit["removed"] = nlohmann::json::array();
    j["commits"].push_back(commit);
  }
  const std::string body = j.dump();
  ASSERT_GT(body.size(), 1u << 20);
  for (int round = 0; round < 2; ++round) {
    auto e = ParseDelivery(v1::PROVIDER_GITHUB, {{"x-github-event", "push"}}, body);
    ASSERT_OK(e);
    EXPECT_EQ(e->branch(), "main");
    EXPECT_EQ(e->commit_messages_size(), 100);
    EXPECT_EQ(e->changed_files_size(), 3000);
    EXPECT_EQ(e->changed_files(2999), "src/file2999.cc");
    // An ordinary payload on the same thread afterwards.
    auto small = Parse(v1::PROVIDER_GITHUB, "x-github-event", "push", "github/push-branch.json");
    EXPECT_EQ(small.commit_messages_size(), 1);
  }
}

TEST(ProvidersTest, MalformedDeliveriesAreRejectedWithAReason) {
  EXPECT_THAT(ParseDelivery(v1::PROVIDER_GITHUB, {}, "{}"),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x-github-event")));
  EXPECT_THAT(ParseDelivery(v1::PROVIDER_GITHUB, {{"x-github-event", "push"}}, "{\"ref\":"),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a JSON object")));
  EXPECT_THAT(ParseDelivery(v1::PROVIDER_GITHUB, {{"x-github-event", "push"}},
                            R"({"repository": {"full_name": "a/b"}})"),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no ref")));
  std::string truncated = Fixture("gitlab/push-branch.json");
  truncated.resize(truncated.size() / 2);
  EXPECT_FALSE(ParseDelivery(v1::PROVIDER_GITLAB, {{"x-gitlab-event", "Push Hook"}}, truncated).ok());
}

TEST(SignatureTest, GitHubDocumentedTestVector) {
  Headers h = {{"x-hub-signature-256",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}};
  EXPECT_EQ(VerifySignature(v1::PROVIDER_GITHUB, h, "Hello, World!", "It's a Secret to Everybody"),
            v1::SIGNATURE_VERDICT_VALID);
  EXPECT_EQ(VerifySignature(v1::PROVIDER_GITHUB, h, "Hello, World?", "It's a Secret to Everybody"),
            v1::SIGNATURE_VERDICT_INVALID);
  EXPECT_EQ(VerifySignature(v1::PROVIDER_GITHUB, {}, "x", "secret"), v1::SIGNATURE_VERDICT_MISSING);
  EXPECT_EQ(VerifySignature(v1::PROVIDER_GITHUB, {}, "x", ""), v1::SIGNATURE_VERDICT_NOT_REQUIRED);
}

TEST(SignatureTest, EachProviderSignsItsOwnWay) {
  std::string body = Fixture("gitea/push-branch.json");
  std::string mac = HmacSha256Hex("s3cret", body);
  EXPECT_EQ(VerifySignature(v1::PROVIDER_GITEA, {{"x-gitea-signature", mac}}, body, "s3cret"),
            v1::SIGNATURE_VERDICT_VALID);
  EXPECT_EQ(VerifySignature(v1::PROVIDER_BITBUCKET, {{"x-hub-signature", "sha256=" + mac}}, body, "s3cret"),
            v1::SIGNATURE_VERDICT_VALID);
  EXPECT_EQ(VerifySignature(v1::PROVIDER_GITLAB, {{"x-gitlab-token", "s3cret"}}, body, "s3cret"),
            v1::SIGNATURE_VERDICT_VALID);
  EXPECT_EQ(VerifySignature(v1::PROVIDER_GITLAB, {{"x-gitlab-token", "s3cre"}}, body, "s3cret"),
            v1::SIGNATURE_VERDICT_INVALID);
  // A body field is never authentication (old Gitea echoed the secret in the body).
  std::string old = Fixture("gitea/pull_request-opened.json");
  EXPECT_NE(old.find("\"secret\""), std::string::npos);
  EXPECT_EQ(VerifySignature(v1::PROVIDER_GITEA, {}, old, "12345"), v1::SIGNATURE_VERDICT_MISSING);
}

TEST(ProvidersTest, DeliveryIdsComeFromEachProvidersHeader) {
  EXPECT_EQ(DeliveryId(v1::PROVIDER_GITHUB, {{"x-github-delivery", "abc"}}, "x"), "abc");
  EXPECT_EQ(DeliveryId(v1::PROVIDER_GITLAB, {{"idempotency-key", "k"}}, "x"), "k");
  EXPECT_EQ(DeliveryId(v1::PROVIDER_GITEA, {{"x-gitea-delivery", "g"}}, "x"), "g");
  EXPECT_EQ(DeliveryId(v1::PROVIDER_BITBUCKET, {{"x-request-uuid", "b"}}, "x"), "b");
  // Old GitLab without Idempotency-Key: the body identifies the event.
  EXPECT_EQ(DeliveryId(v1::PROVIDER_GITLAB, {}, "same"), DeliveryId(v1::PROVIDER_GITLAB, {}, "same"));
  EXPECT_NE(DeliveryId(v1::PROVIDER_GITLAB, {}, "one"), DeliveryId(v1::PROVIDER_GITLAB, {}, "two"));
  Headers redacted = RedactHeaders({{"x-hub-signature-256", "sha256=x"}, {"x-gitlab-token", "t"},
                                    {"x-github-event", "push"}});
  EXPECT_EQ(redacted.size(), 1u);
}

TEST(GiteaFixturesTest, DeleteEventsAreBranchAndTagDeletions) {
  auto opened = nlohmann::json::parse(testing::WebhookFixture("gitea/pull_request-opened.json"));
  Headers h = {{"x-gitea-event", "delete"}};
  nlohmann::json body = {{"ref", "feature/x"}, {"ref_type", "branch"},
                         {"repository", opened["repository"]}, {"sender", opened["sender"]}};
  auto branch = ParseDelivery(v1::PROVIDER_GITEA, h, body.dump());
  ASSERT_OK(branch);
  EXPECT_EQ(branch->kind(), v1::GIT_EVENT_KIND_BRANCH_DELETED);
  EXPECT_EQ(branch->branch(), "feature/x");
  EXPECT_EQ(branch->sha(), "");
  body["ref"] = "v1.2.0";
  body["ref_type"] = "tag";
  auto tag = ParseDelivery(v1::PROVIDER_GITEA, h, body.dump());
  ASSERT_OK(tag);
  EXPECT_EQ(tag->kind(), v1::GIT_EVENT_KIND_TAG_DELETED);
  EXPECT_EQ(tag->tag(), "v1.2.0");
  body["ref_type"] = "wiki";
  EXPECT_THAT(ParseDelivery(v1::PROVIDER_GITEA, h, body.dump()),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ref_type")));
  // GitHub's own delete event is not acted on: its push with deleted=true is.
  auto github = ParseDelivery(v1::PROVIDER_GITHUB, {{"x-github-event", "delete"}}, body.dump());
  ASSERT_OK(github);
  EXPECT_EQ(github->kind(), v1::GIT_EVENT_KIND_OTHER);
}

TEST(ParseBindingTest, ReadsOnlyTheRepositoryOfAnUnverifiedBody) {
  const std::string body = testing::WebhookFixture("github/push-branch.json");
  auto b = ParseBinding(v1::PROVIDER_GITHUB, {{"x-github-event", "push"}}, body);
  ASSERT_OK(b);
  EXPECT_EQ(b->repository(), "woodpecker-ci/woodpecker");
  EXPECT_EQ(b->event(), "push");
  EXPECT_EQ(b->branch(), "");
  EXPECT_EQ(b->sha(), "");
  EXPECT_EQ(b->commit_messages_size(), 0);
  EXPECT_EQ(b->sender(), "");
}

TEST(RedactHeadersTest, KeepsBoundedValidTextWithoutSecrets) {
  Headers h = {{"x-hub-signature-256", "sha256=abc"}, {"proxy-authorization", "Basic dTpw"},
               {"x-slipway-signature-256", "sha256=def"}, {"user-agent", "bad\xff\xfe"},
               {"a-long", std::string(5000, 'a')}};
  for (int i = 0; i < 100; ++i) h["x-extra-" + std::to_string(100 + i)] = "v";
  Headers kept = RedactHeaders(h);
  EXPECT_EQ(kept.count("x-hub-signature-256"), 0u);
  EXPECT_EQ(kept.count("proxy-authorization"), 0u);
  EXPECT_EQ(kept.count("x-slipway-signature-256"), 0u);
  EXPECT_LE(kept.size(), kMaxRecordedHeaders);
  EXPECT_EQ(kept["user-agent"], "bad\xEF\xBF\xBD\xEF\xBF\xBD");
  ASSERT_EQ(kept.count("a-long"), 1u);
  EXPECT_LE(kept["a-long"].size(), kMaxRecordedHeaderValue);
  EXPECT_GT(kept["a-long"].size(), kMaxRecordedHeaderValue - 8);
}

}  // namespace
}  // namespace slipway::trigger
