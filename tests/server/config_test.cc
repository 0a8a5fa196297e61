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
