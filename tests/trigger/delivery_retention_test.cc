// Delivery retention as the maintenance step runs it: a fake clock decides what is old.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/proto_time.h"
#include "storage/delivery_repository.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "trigger/intake.h"

namespace slipway::trigger {
namespace {

TEST(DeliveryRetentionTest, RecordsOlderThanTheRetentionGoAsTheClockMovesOn) {
  testing::TempDir dir;
  auto db = storage::Database::Open({.path = dir.File("db")});
  ASSERT_OK(db);
  testing::FakeClock clock;
  auto store = [&](const std::string& id) {
    v1::Delivery d;
    d.set_id(id);
    d.set_delivery_id(id);
    *d.mutable_receive_time() = ProtoTime(clock.Now());
    return (*db)->Write([&](storage::Transaction& tx) {
      return storage::DeliveryRepository().Insert(tx, d, /*claims_id=*/true);
    });
  };
  ASSERT_OK(store("day-0"));
  clock.Advance(absl::Hours(24 * 20));
  ASSERT_OK(store("day-20"));
  // Nothing is 30 days old yet.
  auto pruned = PruneDeliveries(**db, clock, absl::Hours(24 * 30), 100000);
  ASSERT_OK(pruned);
  EXPECT_EQ(*pruned, 0);
  clock.Advance(absl::Hours(24 * 11));
  pruned = PruneDeliveries(**db, clock, absl::Hours(24 * 30), 100000);
  ASSERT_OK(pruned);
  EXPECT_EQ(*pruned, 1);
  std::vector<v1::Delivery> left;
  ASSERT_OK((*db)->Read([&](storage::Transaction& tx) -> absl::Status {
    auto page = storage::DeliveryRepository().List(tx, "", {}, 100);
    if (!page.ok()) return page.status();
    left = page->deliveries;
    return absl::OkStatus();
  }));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id(), "day-20");
}

}  // namespace
}  // namespace slipway::trigger
