#include "common/names.h"

#include <gtest/gtest.h>

#include <string>

namespace slipway {
namespace {

TEST(NamesTest, AcceptsDnsLabels) {
  EXPECT_TRUE(CheckDnsLabel("shop").ok());
  EXPECT_TRUE(CheckDnsLabel("pr-42").ok());
  EXPECT_TRUE(CheckDnsLabel("a").ok());
  EXPECT_TRUE(CheckDnsLabel(std::string(63, 'a')).ok());
}

TEST(NamesTest, RejectsEverythingElseWithAReason) {
  EXPECT_FALSE(CheckDnsLabel("").ok());
  EXPECT_FALSE(CheckDnsLabel(std::string(64, 'a')).ok());
  EXPECT_FALSE(CheckDnsLabel("Shop").ok());
  EXPECT_FALSE(CheckDnsLabel("shop_1").ok());
  EXPECT_FALSE(CheckDnsLabel("-shop").ok());
  EXPECT_FALSE(CheckDnsLabel("shop-").ok());
  EXPECT_FALSE(CheckDnsLabel("$(rm -rf ~)").ok());
  EXPECT_NE(CheckDnsLabel("shop_1").message().find("only a-z, 0-9 and '-'"), std::string::npos);
}

}  // namespace
}  // namespace slipway
