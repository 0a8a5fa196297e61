// The HTTP endpoint's elastic worker pool, with real threads.
#include "server/http_workers.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "tests/testing/wait.h"

namespace slipway::server {
namespace {

using slipway::testing::WaitUntil;

// Tasks that block until Open().
class Gate {
 public:
  std::function<void()> Task() {
    return [this] {
      ++running;
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return open_; });
      --running;
      ++finished;
    };
  }
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  std::atomic<int> running{0}, finished{0};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(HttpWorkersTest, StartsSmallAndAddsAThreadForEachTaskThatFindsNoneIdle) {
  HttpWorkers pool({.min_threads = 2, .max_threads = 8});
  EXPECT_EQ(pool.threads(), 2);
  Gate gate;
  for (int i = 0; i < 5; ++i) pool.enqueue(gate.Task());
  ASSERT_TRUE(WaitUntil([&] { return gate.running == 5; }));
  EXPECT_EQ(pool.threads(), 5);
  gate.Open();
  ASSERT_TRUE(WaitUntil([&] { return gate.finished == 5; }));
  pool.shutdown();
  EXPECT_EQ(pool.threads(), 0);
}

TEST(HttpWorkersTest, BeyondTheMaximumTasksWaitForAThread) {
  HttpWorkers pool({.min_threads = 1, .max_threads = 3});
  Gate gate;
  for (int i = 0; i < 7; ++i) pool.enqueue(gate.Task());
  ASSERT_TRUE(WaitUntil([&] { return gate.running == 3; }));
  EXPECT_EQ(pool.threads(), 3);
  EXPECT_EQ(pool.peak_threads(), 3);
  gate.Open();
  ASSERT_TRUE(WaitUntil([&] { return gate.finished == 7; }));
  EXPECT_EQ(pool.peak_threads(), 3);
}

TEST(HttpWorkersTest, ThreadsBeyondTheMinimumEndOnceIdleAndComeBackWhenNeeded) {
  HttpWorkers pool({.min_threads = 1, .max_threads = 16, .idle_timeout = std::chrono::milliseconds(50)});
  Gate first;
  for (int i = 0; i < 10; ++i) pool.enqueue(first.Task());
  ASSERT_TRUE(WaitUntil([&] { return first.running == 10; }));
  first.Open();
  ASSERT_TRUE(WaitUntil([&] { return pool.threads() == 1; }));

  Gate second;
  for (int i = 0; i < 4; ++i) pool.enqueue(second.Task());
  ASSERT_TRUE(WaitUntil([&] { return second.running == 4; }));
  EXPECT_EQ(pool.threads(), 4);
  second.Open();
  ASSERT_TRUE(WaitUntil([&] { return second.finished == 4; }));
}

TEST(HttpWorkersTest, ShutdownRunsWhatIsQueuedAndJoinsEveryThread) {
  std::atomic<int> ran{0};
  {
    HttpWorkers pool({.min_threads = 1, .max_threads = 1});
    Gate gate;
    pool.enqueue(gate.Task());
    for (int i = 0; i < 20; ++i) pool.enqueue([&ran] { ++ran; });
    ASSERT_TRUE(WaitUntil([&] { return gate.running == 1; }));
    EXPECT_EQ(ran, 0);  // queued behind the one busy thread
    gate.Open();
    pool.shutdown();
    EXPECT_EQ(ran, 20);
    EXPECT_EQ(pool.threads(), 0);
  }  // destroying a pool that was shut down is fine
}

TEST(HttpWorkersTest, ATaskEnqueuedAfterShutdownStillRuns) {
  HttpWorkers pool({.min_threads = 1, .max_threads = 2});
  pool.shutdown();
  bool ran = false;
  pool.enqueue([&ran] { ran = true; });  // e.g. a connection accepted as the server stopped
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace slipway::server
