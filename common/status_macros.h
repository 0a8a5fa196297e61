// RETURN_IF_ERROR and ASSIGN_OR_RETURN for absl::Status / absl::StatusOr (abseil 20220623
// does not ship them), with the helper macros they expand to. Besides these, only tests
// (ASSERT_OK, EXPECT_OK) and server/services.cc (SLIPWAY_METHOD, a method name literal) define
// macros.
#ifndef SLIPWAY_COMMON_STATUS_MACROS_H_
#define SLIPWAY_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SLIPWAY_CONCAT_INNER_(a, b) a##b
#define SLIPWAY_CONCAT_(a, b) SLIPWAY_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status slipway_status_ = (expr);           \
    if (!slipway_status_.ok()) return slipway_status_; \
  } while (false)

#define ASSIGN_OR_RETURN(lhs, expr) \
  SLIPWAY_ASSIGN_OR_RETURN_IMPL_(SLIPWAY_CONCAT_(slipway_statusor_, __LINE__), lhs, expr)

#define SLIPWAY_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // SLIPWAY_COMMON_STATUS_MACROS_H_
