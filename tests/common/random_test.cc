#include "common/random.h"

#include <gtest/gtest.h>

#include <set>

namespace slipway {
namespace {

TEST(RandomTest, Sha256MatchesKnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(RandomTest, SecureIdsHaveTheRequestedLengthAndDoNotRepeat) {
  SecureIdGenerator ids;
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = ids.RandomHex(16);
    ASSERT_EQ(id.size(), 32u);
    ASSERT_TRUE(seen.insert(id).second);
  }
}

TEST(RandomTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

}  // namespace
}  // namespace slipway
