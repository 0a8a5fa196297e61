#include "common/proto_time.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/duration.h"
#include "common/time_format.h"

namespace slipway {

namespace {
constexpr int64_t kNanosPerSecond = 1'000'000'000;
}  // namespace

google::protobuf::Timestamp ProtoTime(absl::Time t) {
  google::protobuf::Timestamp out;
  int64_t nanos = absl::ToUnixNanos(t);
  int64_t seconds = nanos / kNanosPerSecond;
  int64_t rest = nanos % kNanosPerSecond;
  if (rest < 0) {
    rest += kNanosPerSecond;
    --seconds;
  }
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(rest));
  return out;
}

std::optional<absl::Time> TimeFromProto(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return std::nullopt;
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

int CompareTime(const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
  if (a.seconds() != b.seconds()) return a.seconds() < b.seconds() ? -1 : 1;
  if (a.nanos() != b.nanos()) return a.nanos() < b.nanos() ? -1 : 1;
  return 0;
}

std::string FormatTimestamp(const google::protobuf::Timestamp& t) {
  std::optional<absl::Time> when = TimeFromProto(t);
  return when.has_value() ? FormatRfc3339(*when) : std::string();
}

google::protobuf::Duration ProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  absl::Duration rem;
  int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &rem);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(rem)));
  return out;
}

absl::Duration DurationFromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Duration DurationOr(const google::protobuf::Duration& d, absl::Duration fallback) {
  if (d.seconds() == 0 && d.nanos() == 0) return fallback;
  return DurationFromProto(d);
}

absl::Status CheckDuration(const google::protobuf::Duration& d) {
  if (d.seconds() < 0 || d.nanos() < 0) {
    return absl::InvalidArgumentError("a duration must not be negative");
  }
  if (d.nanos() >= kNanosPerSecond) {
    return absl::InvalidArgumentError(
        absl::StrCat("nanos ", d.nanos(), " is out of range (0 to 999999999)"));
  }
  return absl::OkStatus();
}

std::string FormatDuration(const google::protobuf::Duration& d) {
  return absl::FormatDuration(DurationFromProto(d));
}

absl::Status ParseProtoDuration(std::string_view text, google::protobuf::Duration* out) {
  absl::StatusOr<absl::Duration> d = ParseDuration(text);
  if (!d.ok()) return d.status();
  *out = ProtoDuration(*d);
  return absl::OkStatus();
}

}  // namespace slipway
