#include "server/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::server {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ConfigTest, ReadsKnownKeysAndKeepsDefaultsForTheRest) {
  testing::TempDir dir;
  std::ofstream(dir.File("c.yaml")) << "data_dir: /var/lib/slipway\ngrpc_listen: 0.0.0.0:9000\n"
                                       "log_format: json\nshutdown_grace: 30s\n";
  DaemonConfig config;
  ASSERT_OK(LoadConfigFile(dir.File("c.yaml"), &config));
  EXPECT_EQ(config.server.data_dir, "/var/lib/slipway");
  EXPECT_EQ(config.server.grpc_listen, "0.0.0.0:9000");
  EXPECT_EQ(config.server.http_listen, "127.0.0.1:7421");
  EXPECT_EQ(config.log_format, "json");
  EXPECT_EQ(config.shutdown_grace, absl::Seconds(30));
}

TEST(ConfigTest, SetsHttpThreadsAndTheWebhookBodyLimit) {
  testing::TempDir dir;
  std::ofstream(dir.File("c.yaml")) << "http_threads: 16\nmax_webhook_body: 5MiB\n";
  DaemonConfig config;
  EXPECT_EQ(config.server.max_webhook_bytes, 25 << 20);  // the default
  ASSERT_OK(LoadConfigFile(dir.File("c.yaml"), &config));
  EXPECT_EQ(config.server.http_threads, 16);
  EXPECT_EQ(config.server.max_webhook_bytes, 5 << 20);
}

TEST(ConfigTest, OutOfRangeThreadsAndBodyLimitsNameTheKeyAndChangeNothing) {
  testing::TempDir dir;
  DaemonConfig config;
  const struct {
    const char* yaml;
    const char* says;
  } cases[] = {
      {"http_threads: 0\n", "http_threads: 0 is not between 1 and 4096"},
      {"http_threads: 5000\n", "http_threads: 5000 is not between 1 and 4096"},
      {"http_threads: many\n", "http_threads: \"many\" is not a number"},
      {"max_webhook_body: 512B\n", "max_webhook_body: 512B is not between 1KiB and 1GiB"},
      {"max_webhook_body: 2GiB\n", "max_webhook_body: 2GiB is not between 1KiB and 1GiB"},
      {"max_webhook_body: 25 megabytes\n", "max_webhook_body: \"25 megabytes\" is not a size"},
  };
  for (const auto& c : cases) {
    std::ofstream(dir.File("bad.yaml")) << c.yaml;
    EXPECT_THAT(LoadConfigFile(dir.File("bad.yaml"), &config),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.says)))
        << c.yaml;
  }
  EXPECT_EQ(config.server.http_threads, 128);
  EXPECT_EQ(config.server.max_webhook_bytes, 25 << 20);
}

TEST(ConfigTest, UnknownKeysAndBadValuesAreErrors) {
  testing::TempDir dir;
  std::ofstream(dir.File("a.yaml")) << "grpc_port: 1\n";
  std::ofstream(dir.File("b.yaml")) << "shutdown_grace: soon\n";
  DaemonConfig config;
  EXPECT_THAT(LoadConfigFile(dir.File("a.yaml"), &config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown key \"grpc_port\"")));
  EXPECT_THAT(LoadConfigFile(dir.File("b.yaml"), &config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shutdown_grace")));
  EXPECT_THAT(LoadConfigFile(dir.File("missing.yaml"), &config),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("cannot read")));
}

}  // namespace
}  // namespace slipway::server
