// Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in UTC.
// Supports `*`, lists `a,b`, ranges `a-b`, steps `*/n` and `a-b/n`, month and weekday names
// (`jan`, `mon`), 7 as Sunday, and the shorthands @hourly, @daily, @weekly, @monthly, @yearly.
#ifndef SLIPWAY_COMMON_CRON_H_
#define SLIPWAY_COMMON_CRON_H_

#include <bitset>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace slipway {

class CronSchedule {
 public:
  // INVALID_ARGUMENT naming the offending field ("hour: 24 is out of range 0-23").
  static absl::StatusOr<CronSchedule> Parse(std::string_view expr);

  // The first time strictly after `after` (rounded to the minute) that matches, or nullopt if
  // none exists within five years (e.g. "0 0 30 2 *").
  std::optional<absl::Time> Next(absl::Time after) const;

 private:
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1-31
  std::bitset<13> months_;   // 1-12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool dom_any_ = true;
  bool dow_any_ = true;
};

}  // namespace slipway

#endif  // SLIPWAY_COMMON_CRON_H_
