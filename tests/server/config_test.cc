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

TEST(ConfigTest, SetsTheHttpEdgeBoundsAndDeliveryRetention) {
  testing::TempDir dir;
  std::ofstream(dir.File("c.yaml"))
      << "http_head_timeout: 5s\nhttp_idle_timeout: 2m\nhttp_body_timeout: 30s\n"
         "http_max_head: 32KiB\nhttp_max_headers: 50\nhttp_max_connections: 2000\n"
         "http_max_connections_per_client: 64\nhttp_max_buffered: 128MiB\n"
         "delivery_retention: 168h\ndelivery_keep: 5000\n";
  DaemonConfig config;
  ASSERT_OK(LoadConfigFile(dir.File("c.yaml"), &config));
  const HttpEdgeOptions& h = config.server.http;
  EXPECT_EQ(h.head_timeout, absl::Seconds(5));
  EXPECT_EQ(h.idle_timeout, absl::Minutes(2));
  EXPECT_EQ(h.body_timeout, absl::Seconds(30));
  EXPECT_EQ(h.max_head_bytes, 32 << 10);
  EXPECT_EQ(h.max_headers, 50);
  EXPECT_EQ(h.max_connections, 2000);
  EXPECT_EQ(h.max_connections_per_client, 64);
  EXPECT_EQ(h.max_buffered_bytes, 128 << 20);
  EXPECT_EQ(config.server.delivery_retention, absl::Hours(168));
  EXPECT_EQ(config.server.delivery_keep, 5000);
}

TEST(ConfigTest, OutOfRangeBoundsNameTheKeyAndChangeNothing) {
  testing::TempDir dir;
  DaemonConfig config;
  const struct {
    const char* yaml;
    const char* says;
  } cases[] = {
      {"http_head_timeout: 0s\n", "http_head_timeout: \"0s\" is not between 1s and 10m"},
      {"http_max_headers: 0\n", "http_max_headers: 0 is not between 1 and 1000"},
      {"http_max_head: 100B\n", "http_max_head: 100B is not between 1KiB and 1MiB"},
      {"http_max_connections_per_client: lots\n",
       "http_max_connections_per_client: \"lots\" is not a number"},
      {"delivery_keep: 10\n", "delivery_keep: 10 is not between 100 and 1000000000"},
      {"http_max_bodies: 1\n", "unknown key \"http_max_bodies\""},
  };
  for (const auto& c : cases) {
    std::ofstream(dir.File("bad.yaml")) << c.yaml;
    EXPECT_THAT(LoadConfigFile(dir.File("bad.yaml"), &config),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.says)))
        << c.yaml;
  }
  EXPECT_EQ(config.server.http.head_timeout, absl::Seconds(10));
  EXPECT_EQ(config.server.http.max_headers, 100);
  EXPECT_EQ(config.server.delivery_keep, 100000);
}

}  // namespace
}  // namespace slipway::server
