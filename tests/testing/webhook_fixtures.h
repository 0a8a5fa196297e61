// The shared webhook fixtures (../shared/fixtures/webhooks), and bodies made from them.
#ifndef SLIPWAY_TESTS_TESTING_WEBHOOK_FIXTURES_H_
#define SLIPWAY_TESTS_TESTING_WEBHOOK_FIXTURES_H_

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace slipway::testing {

// The fixture's bytes, e.g. WebhookFixture("github/push-branch.json").
inline std::string WebhookFixture(const std::string& name) {
  const std::string path = std::string(SLIPWAY_SOURCE_DIR) + "/../shared/fixtures/webhooks/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Bitbucket's push fixture (one change, to master) with three more ref changes in the same
// delivery: branch develop (its commit says "[skip ci]", its head is `develop_sha`), a new tag
// v9.0, and the deletion of branch old-feature.
inline std::string BitbucketPushToSeveralRefs(const std::string& develop_sha) {
  auto j = nlohmann::json::parse(WebhookFixture("bitbucket/repo-push.json"));
  auto& changes = j["push"]["changes"];
  auto develop = changes[0];
  develop["new"]["name"] = "develop";
  develop["new"]["target"]["hash"] = develop_sha;
  develop["commits"][0]["message"] = "docs only [skip ci]\n";
  auto tag = changes[0];
  tag["new"]["type"] = "tag";
  tag["new"]["name"] = "v9.0";
  tag["old"] = nullptr;
  tag["created"] = true;
  auto gone = changes[0];
  gone["new"] = nullptr;
  gone["old"]["name"] = "old-feature";
  gone["closed"] = true;
  changes.push_back(develop);
  changes.push_back(tag);
  changes.push_back(gone);
  return j.dump();
}

}  // namespace slipway::testing

#endif  // SLIPWAY_TESTS_TESTING_WEBHOOK_FIXTURES_H_
