// The HTTP endpoint's workers: a pool that starts with a few threads, adds one whenever a task
// (one request's handler) finds none idle, up to a maximum, and lets
// threads beyond the minimum end after they have been idle for a while. An idle slipwayd then
// keeps a handful of threads instead of one per possible connection.
#ifndef SLIPWAY_SERVER_HTTP_WORKERS_H_
#define SLIPWAY_SERVER_HTTP_WORKERS_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace slipway::server {

struct HttpWorkersOptions {
  int min_threads = 2;
  int max_threads = 128;
  // How long a thread beyond the minimum waits for work before it ends.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
};

class HttpWorkers final {
 public:
  explicit HttpWorkers(HttpWorkersOptions options);
  ~HttpWorkers();

  // Runs `fn` on an idle thread, a new one if none is idle and the maximum allows, or else
  // queues it for the next thread that becomes idle. After shutdown, runs it on the caller.
  void enqueue(std::function<void()> fn);
  // Runs what is queued, then ends and joins every thread. Idempotent.
  void shutdown();

  // Threads alive now, and the most there have been at once.
  int threads();
  int peak_threads();

 private:
  struct Worker {
    std::thread thread;
    bool done = false;
  };
  void Run(Worker* self);
  void StartThreadLocked();
  // Takes finished workers out of the list so they can be joined outside the lock.
  std::list<Worker> TakeDoneLocked();

  const HttpWorkersOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::list<Worker> workers_;
  int alive_ = 0, idle_ = 0, starting_ = 0, peak_ = 0;
  int done_ = 0;  // workers that ended and are not yet joined
  bool stopping_ = false;
};

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_HTTP_WORKERS_H_
