#include "common/cron.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace slipway {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone());
}

TEST(CronTest, EveryFifteenMinutes) {
  auto c = CronSchedule::Parse("*/15 * * * *");
  ASSERT_OK(c);
  EXPECT_EQ(c->Next(Utc(2026, 1, 1, 10, 7)), Utc(2026, 1, 1, 10, 15));
  EXPECT_EQ(c->Next(Utc(2026, 1, 1, 10, 45)), Utc(2026, 1, 1, 11, 0));
}

TEST(CronTest, NextIsStrictlyAfter) {
  auto c = CronSchedule::Parse("0 9 * * *");
  ASSERT_OK(c);
  EXPECT_EQ(c->Next(Utc(2026, 3, 1, 9, 0)), Utc(2026, 3, 2, 9, 0));
}

TEST(CronTest, WeekdayNamesAndRanges) {
  auto c = CronSchedule::Parse("30 18 * * mon-fri");
  ASSERT_OK(c);
  // 2026-11-28 is a Saturday: next is Monday 30th.
  EXPECT_EQ(c->Next(Utc(2026, 11, 28, 0, 0)), Utc(2026, 11, 30, 18, 30));
}

TEST(CronTest, SundayAsSeven) {
  auto c = CronSchedule::Parse("0 0 * * 7");
  ASSERT_OK(c);
  EXPECT_EQ(c->Next(Utc(2026, 11, 26, 0, 0)), Utc(2026, 11, 29, 0, 0));
}

TEST(CronTest, Shorthands) {
  auto c = CronSchedule::Parse("@daily");
  ASSERT_OK(c);
  EXPECT_EQ(c->Next(Utc(2026, 5, 5, 13, 0)), Utc(2026, 5, 6, 0, 0));
}

TEST(CronTest, ImpossibleDateHasNoNext) {
  auto c = CronSchedule::Parse("0 0 30 2 *");
  ASSERT_OK(c);
  EXPECT_FALSE(c->Next(Utc(2026, 1, 1, 0, 0)).has_value());
}

TEST(CronTest, ErrorsNameTheField) {
  EXPECT_THAT(CronSchedule::Parse("0 24 * * *"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hour: 24 is out of range")));
  EXPECT_THAT(CronSchedule::Parse("* * *"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has 3 fields")));
  EXPECT_THAT(CronSchedule::Parse("0 0 * foo *"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("month")));
  EXPECT_THAT(CronSchedule::Parse("*/0 * * * *"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad step")));
  EXPECT_THAT(CronSchedule::Parse("5-1 * * * *"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("backwards")));
}

}  // namespace
}  // namespace slipway
