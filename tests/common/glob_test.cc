#include "common/glob.h"

#include <gtest/gtest.h>

namespace slipway {
namespace {

TEST(GlobTest, StarStaysWithinOneSegment) {
  EXPECT_TRUE(GlobMatch("release/*", "release/1.2"));
  EXPECT_FALSE(GlobMatch("release/*", "release/1.2/hotfix"));
  EXPECT_FALSE(GlobMatch("release/*", "release"));
  EXPECT_TRUE(GlobMatch("v*", "v1.0.0"));
  EXPECT_FALSE(GlobMatch("v*", "x1.0"));
}

TEST(GlobTest, DoubleStarCrossesSegments) {
  EXPECT_TRUE(GlobMatch("feature/**", "feature/a/b/c"));
  EXPECT_TRUE(GlobMatch("**", "anything/at/all"));
  EXPECT_TRUE(GlobMatch("src/**/test.cc", "src/test.cc"));
  EXPECT_TRUE(GlobMatch("src/**/test.cc", "src/a/b/test.cc"));
  EXPECT_FALSE(GlobMatch("src/**/test.cc", "lib/a/test.cc"));
}

TEST(GlobTest, QuestionMarkAndClasses) {
  EXPECT_TRUE(GlobMatch("v?.0", "v1.0"));
  EXPECT_FALSE(GlobMatch("v?.0", "v10.0"));
  EXPECT_FALSE(GlobMatch("a?b", "a/b"));
  EXPECT_TRUE(GlobMatch("v[0-9]", "v7"));
  EXPECT_FALSE(GlobMatch("v[0-9]", "vx"));
  EXPECT_TRUE(GlobMatch("v[!0-9]", "vx"));
  EXPECT_FALSE(GlobMatch("v[!0-9]", "v3"));
}

TEST(GlobTest, ExactNamesMatchOnlyThemselves) {
  EXPECT_TRUE(GlobMatch("main", "main"));
  EXPECT_FALSE(GlobMatch("main", "main2"));
  EXPECT_FALSE(GlobMatch("main", "mai"));
}

TEST(GlobTest, MalformedPatternsAreRejectedAndMatchNothing) {
  EXPECT_FALSE(CheckGlob("release/[abc").ok());
  EXPECT_FALSE(CheckGlob("").ok());
  EXPECT_FALSE(CheckGlob("a***").ok());
  EXPECT_FALSE(GlobMatch("release/[abc", "release/[abc"));
  EXPECT_TRUE(CheckGlob("feature/**").ok());
}

}  // namespace
}  // namespace slipway
