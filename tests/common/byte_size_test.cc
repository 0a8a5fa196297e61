#include "common/byte_size.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace slipway {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ByteSizeTest, ReadsBytesAndDecimalAndBinaryUnits) {
  EXPECT_EQ(*ParseByteSize("1048576"), 1048576);
  EXPECT_EQ(*ParseByteSize("100B"), 100);
  EXPECT_EQ(*ParseByteSize("10kB"), 10000);
  EXPECT_EQ(*ParseByteSize("10MB"), 10000000);
  EXPECT_EQ(*ParseByteSize("2GB"), 2000000000);
  EXPECT_EQ(*ParseByteSize("512KiB"), 512 * 1024);
  EXPECT_EQ(*ParseByteSize("25MiB"), 25 << 20);
  EXPECT_EQ(*ParseByteSize("25mib"), 25 << 20);
  EXPECT_EQ(*ParseByteSize("1GiB"), int64_t{1} << 30);
  EXPECT_EQ(*ParseByteSize("0"), 0);
}

TEST(ByteSizeTest, RefusesWhatIsNotASize) {
  for (const char* text : {"", "MiB", "-1", "1.5MiB", "25 MiB", "25M", "25Mi", "ten", "1TiB",
                           "99999999999999999999", "9999999999GiB"}) {
    EXPECT_THAT(ParseByteSize(text), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a size")))
        << text;
  }
}

TEST(ByteSizeTest, FormatsInTheLargestUnitThatDividesIt) {
  EXPECT_EQ(FormatByteSize(25 << 20), "25MiB");
  EXPECT_EQ(FormatByteSize(int64_t{3} << 30), "3GiB");
  EXPECT_EQ(FormatByteSize(4096), "4KiB");
  EXPECT_EQ(FormatByteSize(1000), "1000B");
  EXPECT_EQ(FormatByteSize(0), "0B");
}

}  // namespace
}  // namespace slipway
