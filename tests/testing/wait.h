// Waiting on a condition with a deadline, for tests that involve real processes or sockets
// (where there is no clock to advance). Polls every 20 ms.
#ifndef SLIPWAY_TESTS_TESTING_WAIT_H_
#define SLIPWAY_TESTS_TESTING_WAIT_H_

#include <chrono>
#include <functional>
#include <thread>

namespace slipway::testing {

// Returns true as soon as `condition` holds, false if it still does not after `timeout`.
inline bool WaitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace slipway::testing

#endif  // SLIPWAY_TESTS_TESTING_WAIT_H_
