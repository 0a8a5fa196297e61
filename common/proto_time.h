// Times and durations in the API: google.protobuf.Timestamp and google.protobuf.Duration,
// converted to and from absl's types.
#ifndef SLIPWAY_COMMON_PROTO_TIME_H_
#define SLIPWAY_COMMON_PROTO_TIME_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace slipway {

// `t` truncated to whole nanoseconds (absl keeps finer ticks).
google::protobuf::Timestamp ProtoTime(absl::Time t);
// The time a Timestamp names; nullopt for the zero Timestamp (an unset field).
std::optional<absl::Time> TimeFromProto(const google::protobuf::Timestamp& t);
// Negative, zero or positive as `a` is before, at or after `b`.
int CompareTime(const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b);
// RFC 3339 in UTC with milliseconds, as tables show it; "" for an unset field.
std::string FormatTimestamp(const google::protobuf::Timestamp& t);

google::protobuf::Duration ProtoDuration(absl::Duration d);
absl::Duration DurationFromProto(const google::protobuf::Duration& d);
// The duration a field holds, or `fallback` when it is unset (the zero Duration).
absl::Duration DurationOr(const google::protobuf::Duration& d, absl::Duration fallback);
// OK for a duration a pipeline may hold: not negative, nanos in [0, 1e9).
absl::Status CheckDuration(const google::protobuf::Duration& d);
// "1h30m", "250ms": what a pipeline file would say.
std::string FormatDuration(const google::protobuf::Duration& d);
// Parses what pipeline files say ("90s", "5m", "1.5s") into a Duration.
absl::Status ParseProtoDuration(std::string_view text, google::protobuf::Duration* out);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_PROTO_TIME_H_
