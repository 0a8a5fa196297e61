#include "common/random.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "tests/testing/fake_clock.h"

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

TEST(RandomTest, OrderedIdsSortInCreationOrderAcrossThreads) {
  testing::FakeClock clock;
  SecureIdGenerator ids(&clock);
  std::vector<std::vector<std::string>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& out : per_thread) {
    threads.emplace_back([&ids, &out] {
      for (int i = 0; i < 20000; ++i) out.push_back(ids.OrderedHex());
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> seen;
  for (const auto& out : per_thread) {
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_EQ(out[i].size(), 16u);
      ASSERT_EQ(out[i].find_first_not_of("0123456789abcdef"), std::string::npos) << out[i];
      if (i > 0) {
        ASSERT_LT(out[i - 1], out[i]);  // each thread sees them increase
      }
      ASSERT_TRUE(seen.insert(out[i]).second) << out[i];
    }
  }
  // A later millisecond sorts after everything before it; a clock that steps back does not
  // make ids go backwards.
  std::string before = ids.OrderedHex();
  clock.Advance(absl::Milliseconds(1));
  std::string later = ids.OrderedHex();
  EXPECT_LT(before, later);
  EXPECT_EQ(later.substr(0, 11), absl::StrFormat("%011x", absl::ToUnixMillis(clock.Now())));
  clock.Advance(absl::Seconds(-5));
  EXPECT_LT(later, ids.OrderedHex());
}

TEST(RandomTest, HmacSha256MatchesRfc4231TestCase2) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(RandomTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

}  // namespace
}  // namespace slipway
