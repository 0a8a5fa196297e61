#include "storage/request_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "slipway/v1/pipeline_service.pb.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

class RequestLogTest : public ::testing::TestWithParam<testing::StoreKind> {};

TEST_P(RequestLogTest, WriteOnceReturnsTheFirstResultForARetry) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  auto db = store.Open();
  ASSERT_OK(db);
  v1::DeletePipelineRequest req;
  req.set_name("shop");
  req.set_request_id("r1");
  int calls = 0;
  auto run = [&](const v1::DeletePipelineRequest& r) {
    return WriteOnce<v1::ValidatePipelineResponse>(
        **db, "Test", r.request_id(), r, 1000,
        [&](Transaction&) -> absl::StatusOr<v1::ValidatePipelineResponse> {
          ++calls;
          v1::ValidatePipelineResponse out;
          out.set_valid(calls == 1);
          return out;
        });
  };
  auto first = run(req);
  ASSERT_OK(first);
  EXPECT_TRUE(first->valid());
  auto retry = run(req);
  ASSERT_OK(retry);
  EXPECT_TRUE(retry->valid());  // the logged response, not a second call's
  EXPECT_EQ(calls, 1);

  v1::DeletePipelineRequest other = req;
  other.set_name("other");
  EXPECT_THAT(run(other), StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("already used for a different request")));
  EXPECT_EQ(calls, 1);

  v1::DeletePipelineRequest no_id = req;
  no_id.clear_request_id();
  ASSERT_OK(run(no_id));
  ASSERT_OK(run(no_id));
  EXPECT_EQ(calls, 3);
}

TEST_P(RequestLogTest, AFailedCallIsNotLogged) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  auto db = store.Open();
  ASSERT_OK(db);
  v1::DeletePipelineRequest req;
  req.set_request_id("r1");
  int calls = 0;
  auto run = [&] {
    return WriteOnce<v1::DeletePipelineResponse>(
        **db, "Test", "r1", req, 1000,
        [&](Transaction&) -> absl::StatusOr<v1::DeletePipelineResponse> {
          if (++calls == 1) return absl::UnavailableError("first try fails");
          return v1::DeletePipelineResponse();
        });
  };
  EXPECT_THAT(run(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("first try")));
  EXPECT_OK(run());
  EXPECT_EQ(calls, 2);
  RequestLog log;
  ASSERT_OK((*db)->Write([&](Transaction& tx) -> absl::Status {
    EXPECT_EQ(*log.PruneBefore(tx, 2000), 1);
    EXPECT_FALSE(log.Find(tx, "Test", "r1")->has_value());
    return absl::OkStatus();
  }));
}

TEST_P(RequestLogTest, PruneForgetsIdsOlderThanTheRetention) {
  testing::TempDir dir;
  testing::TestStore store(GetParam(), dir.path());
  auto db = store.Open();
  ASSERT_OK(db);
  testing::FakeClock clock;
  v1::DeletePipelineRequest req;
  req.set_request_id("old");
  auto put = [&](const std::string& id) {
    req.set_request_id(id);
    return WriteOnce<v1::DeletePipelineResponse>(
        **db, "Test", id, req, absl::ToUnixMillis(clock.Now()),
        [](Transaction&) -> absl::StatusOr<v1::DeletePipelineResponse> {
          return v1::DeletePipelineResponse();
        });
  };
  ASSERT_OK(put("old"));
  clock.Advance(kRequestIdRetention - absl::Minutes(1));
  ASSERT_OK(put("recent"));
  EXPECT_EQ(*PruneRequestLog(**db, clock), 0);
  clock.Advance(absl::Minutes(2));
  EXPECT_EQ(*PruneRequestLog(**db, clock), 1);
  RequestLog log;
  ASSERT_OK((*db)->Read([&](Transaction& tx) -> absl::Status {
    EXPECT_FALSE(log.Find(tx, "Test", "old")->has_value());
    EXPECT_TRUE(log.Find(tx, "Test", "recent")->has_value());
    return absl::OkStatus();
  }));
}

INSTANTIATE_TEST_SUITE_P(Stores, RequestLogTest, ::testing::ValuesIn(testing::kBothStores),
                         testing::StoreKindName);

}  // namespace
}  // namespace slipway::storage
