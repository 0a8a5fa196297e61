#include "common/cron.h"

#include <array>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace slipway {
namespace {

struct FieldSpec {
  const char* name;
  int min;
  int max;
  const char* const* names;  // nullptr or names for min..max
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"};

absl::StatusOr<int> ParseValue(const FieldSpec& f, absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(std::string(text));
  if (f.names != nullptr) {
    for (int v = f.min; v <= f.max; ++v) {
      if (lower == f.names[v - f.min]) return v;
    }
  }
  int v;
  if (!absl::SimpleAtoi(lower, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.name, ": \"", std::string(text), "\" is not a number"));
  }
  if (v < f.min || v > f.max) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.name, ": ", v, " is out of range ", f.min, "-", f.max));
  }
  return v;
}

// Sets bits [min..max] of the field described by `text` into `out` (indexed by value).
absl::Status ParseField(const FieldSpec& f, absl::string_view text, std::vector<bool>& out,
                        bool& any) {
  any = text == "*";
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    if (item.empty()) return absl::InvalidArgumentError(absl::StrCat(f.name, ": empty list item"));
    int step = 1;
    absl::string_view range = item;
    if (size_t slash = item.find('/'); slash != absl::string_view::npos) {
      range = item.substr(0, slash);
      std::string step_text(item.substr(slash + 1));
      if (!absl::SimpleAtoi(step_text, &step) || step <= 0 || step > f.max) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.name, ": bad step \"", step_text, "\""));
      }
    }
    int lo, hi;
    if (range == "*") {
      lo = f.min;
      hi = f.max;
    } else if (size_t dash = range.find('-'); dash != absl::string_view::npos) {
      ASSIGN_OR_RETURN(lo, ParseValue(f, range.substr(0, dash)));
      ASSIGN_OR_RETURN(hi, ParseValue(f, range.substr(dash + 1)));
      if (lo > hi) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.name, ": range \"", std::string(range), "\" is backwards"));
      }
    } else {
      ASSIGN_OR_RETURN(lo, ParseValue(f, range));
      hi = item.find('/') != absl::string_view::npos ? f.max : lo;
    }
    for (int v = lo; v <= hi; v += step) out[v] = true;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CronSchedule> CronSchedule::Parse(std::string_view expr) {
  std::string text = absl::AsciiStrToLower(
      std::string(absl::StripAsciiWhitespace(absl::string_view(expr.data(), expr.size()))));
  if (text == "@hourly") text = "0 * * * *";
  if (text == "@daily" || text == "@midnight") text = "0 0 * * *";
  if (text == "@weekly") text = "0 0 * * 0";
  if (text == "@monthly") text = "0 0 1 * *";
  if (text == "@yearly" || text == "@annually") text = "0 0 1 1 *";
  std::vector<absl::string_view> fields = absl::StrSplit(text, ' ', absl::SkipWhitespace());
  if (fields.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", std::string(expr), "\" has ", fields.size(),
        " fields; a cron expression has 5 (minute hour day-of-month month day-of-week)"));
  }
  static const std::array<FieldSpec, 5> kSpecs = {{
      {"minute", 0, 59, nullptr},
      {"hour", 0, 23, nullptr},
      {"day-of-month", 1, 31, nullptr},
      {"month", 1, 12, kMonthNames},
      {"day-of-week", 0, 7, kDayNames},
  }};
  CronSchedule s;
  std::array<bool, 5> any{};
  std::array<std::vector<bool>, 5> bits;
  for (int i = 0; i < 5; ++i) {
    bits[i].assign(kSpecs[i].max + 1, false);
    RETURN_IF_ERROR(ParseField(kSpecs[i], fields[i], bits[i], any[i]));
  }
  for (int v = 0; v < 60; ++v) s.minutes_[v] = bits[0][v];
  for (int v = 0; v < 24; ++v) s.hours_[v] = bits[1][v];
  for (int v = 1; v <= 31; ++v) s.days_[v] = bits[2][v];
  for (int v = 1; v <= 12; ++v) s.months_[v] = bits[3][v];
  for (int v = 0; v <= 7; ++v) {
    if (bits[4][v]) s.weekdays_[v % 7] = true;
  }
  s.dom_any_ = any[2];
  s.dow_any_ = any[4];
  return s;
}

std::optional<absl::Time> CronSchedule::Next(absl::Time after) const {
  const absl::TimeZone utc = absl::UTCTimeZone();
  absl::CivilMinute m = absl::ToCivilMinute(after, utc) + 1;
  const absl::CivilMinute limit = m + 5 * 366 * 24 * 60;
  while (m < limit) {
    absl::CivilDay day(m);
    bool dom = days_[day.day()];
    bool dow = weekdays_[static_cast<int>(absl::GetWeekday(day)) == 6
                             ? 0
                             : static_cast<int>(absl::GetWeekday(day)) + 1];
    // Classic cron: when both day fields are restricted, either may match.
    bool day_ok = (dom_any_ && dow_any_) ? true
                  : dom_any_             ? dow
                  : dow_any_             ? dom
                                         : (dom || dow);
    if (!months_[m.month()] || !day_ok) {
      m = absl::CivilMinute(day + 1);
      continue;
    }
    if (!hours_[m.hour()]) {
      m = absl::CivilMinute(absl::CivilHour(m) + 1);
      continue;
    }
    if (!minutes_[m.minute()]) {
      m += 1;
      continue;
    }
    return absl::FromCivil(m, utc);
  }
  return std::nullopt;
}

}  // namespace slipway
