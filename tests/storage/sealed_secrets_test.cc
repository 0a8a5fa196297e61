// Secrets at rest: sealed in the stored bytes of every message that holds them, under a key
// outside the database; a wrong key is refused at startup; rotation re-seals everything.
#include "storage/sealed_secrets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "storage/pipeline_repository.h"
#include "storage/run_repository.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

SecretBox NewBox() {
  std::string key(32, '\0');
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<char>(i * 7 + 1);
  return *SecretBox::FromKey(key);
}

TEST(SecretBoxTest, SealsWithAFreshNonceAndRefusesAnotherKeyOrATamperedValue) {
  SecretBox box = NewBox();
  std::string a = box.Seal("hunter2"), b = box.Seal("hunter2");
  EXPECT_NE(a, b);
  EXPECT_TRUE(SecretBox::IsSealed(a));
  EXPECT_EQ(a.find("hunter2"), std::string::npos);
  EXPECT_EQ(*box.Open(a), "hunter2");
  std::string other_key(32, 'k');
  EXPECT_THAT(SecretBox::FromKey(other_key)->Open(a),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("")));
  std::string tampered = a;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_THAT(box.Open(tampered), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("")));
  EXPECT_THAT(SecretBox::FromKey("short"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32 bytes")));
}

TEST(SecretBoxTest, KeyFilesAreCreatedPrivateAndMalformedOnesAreNamed) {
  testing::TempDir dir;
  auto box = SecretBox::FromKeyFile(dir.File("secret.key"), /*create_if_missing=*/true);
  ASSERT_OK(box);
  auto again = SecretBox::FromKeyFile(dir.File("secret.key"), false);
  ASSERT_OK(again);
  EXPECT_EQ(again->key_id(), box->key_id());
  std::ofstream(dir.File("bad.key")) << "not a key\n";
  EXPECT_THAT(SecretBox::FromKeyFile(dir.File("bad.key"), false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("64 hex characters")));
  EXPECT_THAT(SecretBox::FromKeyFile(dir.File("missing.key"), false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cannot read")));
}

class SealedStoreTest : public ::testing::Test {
 protected:
  void Open(std::shared_ptr<const SecretBox> box) {
    db_.reset();
    auto db = Database::Open({.path = dir_.File("db"), .secrets = std::move(box)});
    ASSERT_OK(db);
    db_ = *std::move(db);
  }
  v1::Pipeline WithSecrets() {
    v1::Pipeline p = testing::MinimalPipeline("shop", "wh-secret-1");
    auto* node = p.mutable_stages(0)->mutable_flow()->mutable_sequential()->add_steps();
    node->set_ref("call");
    node->mutable_http_request()->set_url("http://x");
    node->mutable_http_request()->mutable_bearer_token()->set_value("bearer-secret-2");
    (*node->mutable_http_request()->mutable_headers())["X-Key"] = "header-secret-3";
    return p;
  }
  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(SealedStoreTest, NoSecretValueReachesTheFileOrTheWalAndReadsGiveThemBack) {
  auto box = std::make_shared<const SecretBox>(NewBox());
  Open(box);
  ASSERT_OK(SealStoredSecrets(*db_, *box).status());
  v1::Pipeline p = WithSecrets();
  ASSERT_OK(db_->Write([&](Transaction& tx) { return PipelineRepository().Insert(tx, p); }));
  v1::Run run;
  run.set_id("run-1");
  run.set_pipeline("shop");
  run.set_stage("dev");
  *run.mutable_stage_spec() = p.stages(0);
  ASSERT_OK(db_->Write([&](Transaction& tx) { return RunRepository().Insert(tx, run).status(); }));
  for (const char* file : {"db", "db-wal"}) {
    std::string bytes = FileBytes(dir_.File(file));
    for (const char* secret : {"wh-secret-1", "bearer-secret-2", "header-secret-3"}) {
      EXPECT_EQ(bytes.find(secret), std::string::npos) << secret << " in " << file;
    }
  }
  v1::Pipeline read;
  ASSERT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
    auto got = PipelineRepository().Get(tx, "shop");
    if (got.ok()) read = *got;
    return got.status();
  }));
  EXPECT_EQ(read.sources(0).webhook_secret().value(), "wh-secret-1");
  EXPECT_EQ(read.stages(0).flow().sequential().steps(1).http_request().headers().at("X-Key"),
            "header-secret-3");
}

TEST_F(SealedStoreTest, AnOldDatabaseIsSealedInPlaceAndAWrongKeyIsRefused) {
  Open(nullptr);  // written before there was a key
  v1::Pipeline p = WithSecrets();
  ASSERT_OK(db_->Write([&](Transaction& tx) { return PipelineRepository().Insert(tx, p); }));
  // A release (keyed by pipeline, stage and an integer number) whose resource has an env secret.
  v1::Release release;
  release.set_pipeline("shop");
  release.set_stage("dev");
  release.set_run_id("run-1");
  v1::ResourceState* web = release.add_resources();
  web->set_name("web");
  (*web->mutable_spec()->mutable_process()->mutable_env())["DB_PASSWORD"] = "env-secret-4";
  ASSERT_OK(db_->Write(
      [&](Transaction& tx) { return ReleaseRepository().Insert(tx, release).status(); }));
  auto box = std::make_shared<const SecretBox>(NewBox());
  Open(box);
  ASSERT_OK(CheckSecretKey(*db_, *box));
  auto rows = SealStoredSecrets(*db_, *box);
  ASSERT_OK(rows);
  EXPECT_EQ(*rows, 2);
  ASSERT_OK(db_->Compact());
  std::string bytes = FileBytes(dir_.File("db")) + FileBytes(dir_.File("db-wal"));
  EXPECT_EQ(bytes.find("bearer-secret-2"), std::string::npos);
  EXPECT_EQ(bytes.find("env-secret-4"), std::string::npos);
  ASSERT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
    auto got = ReleaseRepository().Get(tx, "shop", "dev", 1);
    if (got.ok()) {
      EXPECT_EQ(got->resources(0).spec().process().env().at("DB_PASSWORD"), "env-secret-4");
    }
    return got.status();
  }));

  std::string other(32, 'z');
  auto wrong = std::make_shared<const SecretBox>(*SecretBox::FromKey(other));
  Open(wrong);
  EXPECT_THAT(CheckSecretKey(*db_, *wrong),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not the one")));

  // Rotation: everything opens with the new key and not with the old one.
  Open(box);
  auto rotated = SealStoredSecrets(*db_, *wrong, box.get());
  ASSERT_OK(rotated);
  Open(wrong);
  ASSERT_OK(CheckSecretKey(*db_, *wrong));
  ASSERT_OK(db_->Read([&](Transaction& tx) -> absl::Status {
    auto got = PipelineRepository().Get(tx, "shop");
    if (got.ok()) {
      EXPECT_EQ(got->sources(0).webhook_secret().value(), "wh-secret-1");
    }
    return got.status();
  }));
  Open(box);
  EXPECT_FALSE(CheckSecretKey(*db_, *box).ok());
}

}  // namespace
}  // namespace slipway::storage
