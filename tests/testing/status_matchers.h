// GoogleTest matchers for absl::Status and absl::StatusOr: IsOk(), StatusIs(code, matcher).
#ifndef SLIPWAY_TESTS_TESTING_STATUS_MATCHERS_H_
#define SLIPWAY_TESTS_TESTING_STATUS_MATCHERS_H_

#include <gmock/gmock.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace slipway::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code) + " and a matching message") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code && ::testing::Matches(message_matcher)(std::string(s.message()));
}

// A StatusOr that is OK and whose value matches `value_matcher`.
MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace slipway::testing

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::slipway::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::slipway::testing::IsOk())

#endif  // SLIPWAY_TESTS_TESTING_STATUS_MATCHERS_H_
