#include "trigger/rate_limit.h"

#include <gtest/gtest.h>

namespace slipway::trigger {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'790'000'000);

TEST(KeyedRateLimiterTest, EachKeyGetsItsBurstThenOnePerInterval) {
  KeyedRateLimiter limiter(3, absl::Seconds(1), 100);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a", kT0)) << i;
  EXPECT_FALSE(limiter.Allow("a", kT0));
  EXPECT_TRUE(limiter.Allow("b", kT0));  // another key has its own bucket
  EXPECT_FALSE(limiter.Allow("a", kT0 + absl::Milliseconds(500)));
  EXPECT_TRUE(limiter.Allow("a", kT0 + absl::Milliseconds(1600)));
  EXPECT_FALSE(limiter.Allow("a", kT0 + absl::Milliseconds(1700)));
}

TEST(KeyedRateLimiterTest, PastItsKeyBoundItForgetsRefilledKeysAndOtherwiseRefuses) {
  KeyedRateLimiter limiter(1, absl::Seconds(10), 2);
  EXPECT_TRUE(limiter.Allow("a", kT0));
  EXPECT_TRUE(limiter.Allow("b", kT0));
  EXPECT_FALSE(limiter.Allow("c", kT0));  // two keys tracked, neither refilled
  EXPECT_TRUE(limiter.Allow("c", kT0 + absl::Seconds(10)));  // a and b refilled: forgotten
}

TEST(WindowLimiterTest, CountsWhatAWindowRefusedWhenTheNextOneStarts) {
  WindowLimiter limiter(2, absl::Seconds(10));
  int64_t dropped = -1;
  EXPECT_TRUE(limiter.Allow(kT0, &dropped));
  EXPECT_EQ(dropped, 0);
  EXPECT_TRUE(limiter.Allow(kT0, &dropped));
  EXPECT_FALSE(limiter.Allow(kT0 + absl::Seconds(1), &dropped));
  EXPECT_FALSE(limiter.Allow(kT0 + absl::Seconds(2), &dropped));
  EXPECT_TRUE(limiter.Allow(kT0 + absl::Seconds(10), &dropped));
  EXPECT_EQ(dropped, 2);
}

}  // namespace
}  // namespace slipway::trigger
