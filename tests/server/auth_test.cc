#include "server/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::server {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::Database::Open({.path = dir_.File("db")});
    ASSERT_OK(db);
    db_ = *std::move(db);
    tokens_ = std::make_unique<TokenManager>(db_.get(), &clock_, &ids_);
  }
  testing::TempDir dir_;
  testing::FakeClock clock_;
  SecureIdGenerator ids_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<TokenManager> tokens_;
};

TEST_F(AuthTest, TokensAreRandomAndStoredOnlyAsHashes) {
  auto a = tokens_->Create(v1::SCOPE_READ, "a", "test");
  auto b = tokens_->Create(v1::SCOPE_READ, "b", "test");
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->secret.size(), 4u + 64u);  // 256 bits
  EXPECT_EQ(a->secret.substr(0, 4), "slw_");
  EXPECT_NE(a->secret, b->secret);
  // The database file holds the hash, never the token.
  db_.reset();
  std::ifstream db_file(dir_.File("db"), std::ios::binary);
  std::ifstream wal(dir_.File("db-wal"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(db_file)), std::istreambuf_iterator<char>());
  bytes.append((std::istreambuf_iterator<char>(wal)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.find(a->secret), std::string::npos);
  EXPECT_EQ(bytes.find(a->secret.substr(4)), std::string::npos);
  EXPECT_NE(bytes.find(Sha256(a->secret)), std::string::npos);
}

TEST_F(AuthTest, AuthenticateChecksTokenAndScope) {
  auto deploy = tokens_->Create(v1::SCOPE_DEPLOY, "ci", "test");
  ASSERT_OK(deploy);
  auto ok = tokens_->Authenticate("Bearer " + deploy->secret, v1::SCOPE_READ);
  ASSERT_OK(ok);
  EXPECT_EQ(ok->token_id, deploy->token.id());
  EXPECT_OK(tokens_->Authenticate("bearer " + deploy->secret, v1::SCOPE_DEPLOY));
  EXPECT_THAT(tokens_->Authenticate("Bearer " + deploy->secret, v1::SCOPE_ADMIN),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("has scope deploy; this call needs admin")));
  EXPECT_THAT(tokens_->Authenticate("", v1::SCOPE_READ),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("missing credentials")));
  EXPECT_THAT(tokens_->Authenticate(deploy->secret, v1::SCOPE_READ),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("Bearer")));
  EXPECT_THAT(tokens_->Authenticate("Bearer slw_" + std::string(64, '0'), v1::SCOPE_READ),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("invalid token")));
  ASSERT_OK(tokens_->Revoke(deploy->token.id()));
  EXPECT_THAT(tokens_->Authenticate("Bearer " + deploy->secret, v1::SCOPE_READ),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
}

TEST_F(AuthTest, ARevocationByAnotherProcessTakesEffectWithinTheCacheTtl) {
  auto token = tokens_->Create(v1::SCOPE_ADMIN, "ci", "test");
  ASSERT_OK(token);
  const std::string header = "Bearer " + token->secret;
  ASSERT_OK(tokens_->Authenticate(header, v1::SCOPE_READ));  // cached now
  // `slipwayd token revoke` on the same data dir: another TokenManager, another connection.
  auto other_db = storage::Database::Open({.path = dir_.File("db")});
  ASSERT_OK(other_db);
  TokenManager offline(other_db->get(), &clock_, &ids_);
  ASSERT_OK(offline.Revoke(token->token.id()));
  EXPECT_OK(tokens_->Authenticate(header, v1::SCOPE_READ));
  clock_.Advance(TokenManager::kAuthCacheTtl);
  EXPECT_THAT(tokens_->Authenticate(header, v1::SCOPE_READ),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
}

TEST_F(AuthTest, ARevocationThroughTheServerTakesEffectAtOnce) {
  auto token = tokens_->Create(v1::SCOPE_ADMIN, "ci", "test");
  ASSERT_OK(token);
  const std::string header = "Bearer " + token->secret;
  ASSERT_OK(tokens_->Authenticate(header, v1::SCOPE_READ));
  ASSERT_OK(tokens_->Revoke(token->token.id()));
  EXPECT_THAT(tokens_->Authenticate(header, v1::SCOPE_READ),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
}

TEST_F(AuthTest, BootstrapWritesAnAdminTokenOnceWithMode0600) {
  std::string path = dir_.File("admin.token");
  auto first = tokens_->BootstrapAdminToken(path);
  ASSERT_OK(first);
  EXPECT_TRUE(*first);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  std::ifstream in(path);
  std::string token;
  std::getline(in, token);
  auto who = tokens_->Authenticate("Bearer " + token, v1::SCOPE_ADMIN);
  EXPECT_OK(who);
  auto second = tokens_->BootstrapAdminToken(path);
  ASSERT_OK(second);
  EXPECT_FALSE(*second);
}

TEST_F(AuthTest, BootstrapStoresTheOperatorsTokenAndWritesNoFile) {
  const std::string given = "slw_" + std::string(64, 'a');
  std::string path = dir_.File("admin.token");
  auto first = tokens_->BootstrapAdminToken(path, given + "\n");  // a file's trailing newline
  ASSERT_OK(first);
  EXPECT_TRUE(*first);
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the given token was written to " << path;
  auto who = tokens_->Authenticate("Bearer " + given, v1::SCOPE_ADMIN);
  ASSERT_OK(who);
  // Once a token is active, a given one is not stored again.
  auto second = tokens_->BootstrapAdminToken(path, "slw_" + std::string(64, 'b'));
  ASSERT_OK(second);
  EXPECT_FALSE(*second);
  EXPECT_THAT(tokens_->Authenticate("Bearer slw_" + std::string(64, 'b'), v1::SCOPE_READ),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("invalid token")));
}

TEST_F(AuthTest, BootstrapRefusesAMalformedGivenTokenAndStoresNothing) {
  for (const std::string& bad : std::vector<std::string>{
           "hunter2", "slw_" + std::string(63, 'a'), "slw_" + std::string(64, 'G'),
           "slw_" + std::string(64, 'a') + " trailing words"}) {
    EXPECT_THAT(tokens_->BootstrapAdminToken(dir_.File("admin.token"), bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("admin_token_file")))
        << bad;
  }
  auto listed = tokens_->List(true);
  ASSERT_OK(listed);
  EXPECT_TRUE(listed->empty());
}

TEST(ScopeTest, ParsesNames) {
  EXPECT_EQ(*ParseScope("deploy"), v1::SCOPE_DEPLOY);
  EXPECT_THAT(ParseScope("root"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scope")));
}

}  // namespace
}  // namespace slipway::server
