#include "pipeline/secrets.h"

#include <gtest/gtest.h>

#include "tests/testing/pipelines.h"

namespace slipway::pipeline {
namespace {

TEST(SecretsTest, RedactClearsEveryValueWhereverItSits) {
  v1::Pipeline p = testing::MinimalPipeline("shop", "topsecret");
  auto* node = p.mutable_stages(0)->mutable_flow()->mutable_sequential()->add_steps();
  node->set_ref("call");
  node->mutable_http_request()->set_url("http://x");
  node->mutable_http_request()->mutable_bearer_token()->set_value("tok");
  p.add_webhook_triggers()->mutable_hmac_secret()->set_env("HOOK");
  RedactSecrets(&p);
  std::string bytes = p.SerializeAsString();
  EXPECT_EQ(bytes.find("topsecret"), std::string::npos);
  EXPECT_EQ(bytes.find("tok"), std::string::npos);
  EXPECT_TRUE(p.sources(0).webhook_secret().redacted());
  EXPECT_TRUE(p.stages(0).flow().sequential().steps(1).http_request().bearer_token().redacted());
  // References by name are not secrets and stay.
  EXPECT_EQ(p.webhook_triggers(0).hmac_secret().env(), "HOOK");
}

TEST(SecretsTest, RestoreKeepsStoredValuesMatchedByName) {
  v1::Pipeline stored = testing::MinimalPipeline("shop", "one");
  auto* second = stored.add_sources();
  second->set_name("lib");
  second->mutable_webhook_secret()->set_value("two");

  v1::Pipeline incoming = stored;
  RedactSecrets(&incoming);
  // The client reordered the sources.
  incoming.mutable_sources()->SwapElements(0, 1);
  RestoreRedactedSecrets(&incoming, stored);
  EXPECT_EQ(incoming.sources(0).name(), "lib");
  EXPECT_EQ(incoming.sources(0).webhook_secret().value(), "two");
  EXPECT_EQ(incoming.sources(1).webhook_secret().value(), "one");
  EXPECT_FALSE(incoming.sources(1).webhook_secret().redacted());
}

TEST(SecretsTest, ANewSecretValueIsNotOverwritten) {
  v1::Pipeline stored = testing::MinimalPipeline("shop", "old");
  v1::Pipeline incoming = testing::MinimalPipeline("shop", "new");
  RestoreRedactedSecrets(&incoming, stored);
  EXPECT_EQ(incoming.sources(0).webhook_secret().value(), "new");
}

}  // namespace
}  // namespace slipway::pipeline
