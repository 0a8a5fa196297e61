#include "common/duration.h"

#include <gtest/gtest.h>

namespace slipway {
namespace {

TEST(DurationTest, ParsesUnitsAndSums) {
  EXPECT_EQ(*ParseDuration("90s"), absl::Seconds(90));
  EXPECT_EQ(*ParseDuration("5m"), absl::Minutes(5));
  EXPECT_EQ(*ParseDuration("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDuration("72h"), absl::Hours(72));
  EXPECT_EQ(*ParseDuration("250ms"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseDuration("2d"), absl::Hours(48));
}

TEST(DurationTest, ReadsFractionsAsProtobufPrintsThem) {
  EXPECT_EQ(*ParseDuration("1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseDuration("0.250s"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseDuration("0.000000001s"), absl::Nanoseconds(1));
  EXPECT_EQ(*ParseDuration("1.5h"), absl::Minutes(90));
}

TEST(DurationTest, RejectsMalformedText) {
  for (const char* bad :
       {"", "5", "s", "5x", "-5s", "1.s", ".5s", "0.0000000001s", "5 s", "99999999999999s"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace slipway
