// A fixed pool of threads running posted tasks in order of arrival: the production TaskRunner.
#ifndef SLIPWAY_DEPLOY_THREAD_POOL_H_
#define SLIPWAY_DEPLOY_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "deploy/driver.h"

namespace slipway::deploy {

// Thread-safe. The destructor drops tasks that have not started and waits for running ones.
class ThreadPool final : public TaskRunner {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool() override;
  void Post(std::function<void()> task) override;

 private:
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_THREAD_POOL_H_
