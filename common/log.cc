#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/url_credentials.h"

namespace slipway {
namespace {

class JsonLineFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::ordered_json line;
    line["time"] =
        absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromChrono(msg.time), absl::UTCTimeZone());
    auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string(level.data(), level.size());
    line["msg"] = MaskUrlCredentials(std::string_view(msg.payload.data(), msg.payload.size()));
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text.push_back('\n');
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>();
  }
};

// Human lines, with URL credentials masked like everywhere else.
class TextLineFormatter final : public spdlog::formatter {
 public:
  TextLineFormatter()
      : pattern_("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    if (!HasUrlCredentials(payload)) {
      pattern_.format(msg, dest);
      return;
    }
    std::string masked = MaskUrlCredentials(payload);
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(masked.data(), masked.size());
    pattern_.format(copy, dest);
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextLineFormatter>();
  }

 private:
  spdlog::pattern_formatter pattern_;
};

}  // namespace

absl::Status SetUpLogging(std::string_view format, std::string_view level) {
  spdlog::level::level_enum threshold;
  if (level == "debug") {
    threshold = spdlog::level::debug;
  } else if (level == "info") {
    threshold = spdlog::level::info;
  } else if (level == "warn") {
    threshold = spdlog::level::warn;
  } else if (level == "error") {
    threshold = spdlog::level::err;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--log-level: \"", std::string(level),
                                                   "\" is not debug, info, warn or error"));
  }
  auto logger = std::make_shared<spdlog::logger>("slipway",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonLineFormatter>());
  } else if (format == "text") {
    logger->set_formatter(std::make_unique<TextLineFormatter>());
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-format: \"", std::string(format), "\" is not text or json"));
  }
  logger->set_level(threshold);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return absl::OkStatus();
}

}  // namespace slipway
