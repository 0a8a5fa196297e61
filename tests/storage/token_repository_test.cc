#include "storage/token_repository.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/proto_time.h"
#include "common/random.h"
#include "common/time_format.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

class TokenRepositoryTest : public ::testing::TestWithParam<testing::StoreKind> {};

TEST_P(TokenRepositoryTest, FindsByHashRevokesAndCounts) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  auto db = store.Open();
  ASSERT_OK(db);
  TokenRepository repo;
  v1::Token t;
  t.set_id("abc");
  t.set_scope(v1::SCOPE_DEPLOY);
  t.set_description("ci");
  t.set_created_by("test");
  *t.mutable_create_time() = ProtoTime(*ParseRfc3339("2026-01-01T00:00:00.000Z"));
  ASSERT_OK((*db)->Write([&](Transaction& tx) { return repo.Insert(tx, t, Sha256("secret")); }));
  ASSERT_OK((*db)->Write([&](Transaction& tx) -> absl::Status {
    auto found = repo.FindByHash(tx, Sha256("secret"));
    EXPECT_OK(found);
    EXPECT_EQ(found->scope(), v1::SCOPE_DEPLOY);
    EXPECT_THAT(repo.FindByHash(tx, Sha256("other")),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("token")));
    EXPECT_EQ(*repo.CountActive(tx), 1);
    auto revoked = repo.Revoke(tx, "abc", "2026-01-02T00:00:00.000Z");
    EXPECT_EQ(FormatTimestamp(revoked->revoke_time()), "2026-01-02T00:00:00.000Z");
    // Revoking again keeps the first time.
    auto again = repo.Revoke(tx, "abc", "2026-02-02T00:00:00.000Z");
    EXPECT_EQ(FormatTimestamp(again->revoke_time()), "2026-01-02T00:00:00.000Z");
    EXPECT_EQ(*repo.CountActive(tx), 0);
    EXPECT_EQ(repo.List(tx, false)->size(), 0u);
    EXPECT_EQ(repo.List(tx, true)->size(), 1u);
    EXPECT_THAT(repo.Revoke(tx, "nope", "x"),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
    return absl::OkStatus();
  }));
}

INSTANTIATE_TEST_SUITE_P(Stores, TokenRepositoryTest, ::testing::ValuesIn(testing::kBothStores),
                         testing::StoreKindName);

}  // namespace
}  // namespace slipway::storage
