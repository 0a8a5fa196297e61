#include "server/http_workers.h"

#include <algorithm>

namespace slipway::server {

HttpWorkers::HttpWorkers(HttpWorkersOptions options) : options_(options) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < std::min(options_.min_threads, options_.max_threads); ++i) StartThreadLocked();
}

HttpWorkers::~HttpWorkers() { shutdown(); }

void HttpWorkers::StartThreadLocked() {
  workers_.emplace_back();
  Worker* w = &workers_.back();
  ++alive_;
  ++starting_;
  peak_ = std::max(peak_, alive_);
  w->thread = std::thread([this, w] { Run(w); });
}

std::list<HttpWorkers::Worker> HttpWorkers::TakeDoneLocked() {
  std::list<Worker> done;
  if (done_ == 0) return done;  // the common case: no walk of the list per task
  done_ = 0;
  for (auto it = workers_.begin(); it != workers_.end();) {
    auto next = std::next(it);
    if (it->done) done.splice(done.end(), workers_, it);
    it = next;
  }
  return done;
}

void HttpWorkers::enqueue(std::function<void()> fn) {
  std::list<Worker> done;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) {
      // Too late for a worker: run it here, so the task still closes its connection.
      lock.unlock();
      fn();
      return;
    }
    tasks_.push_back(std::move(fn));
    // Idle threads, and threads still starting, may already be claimed by queued tasks.
    if (idle_ + starting_ < static_cast<int>(tasks_.size()) && alive_ < options_.max_threads) {
      StartThreadLocked();
    }
    done = TakeDoneLocked();
  }
  cv_.notify_one();
  for (Worker& w : done) w.thread.join();
}

void HttpWorkers::Run(Worker* self) {
  std::unique_lock<std::mutex> lock(mu_);
  --starting_;
  while (true) {
    ++idle_;
    bool woke = cv_.wait_for(lock, options_.idle_timeout,
                             [this] { return stopping_ || !tasks_.empty(); });
    --idle_;
    if (!woke && alive_ > options_.min_threads) break;  // idle too long, and not needed
    if (tasks_.empty()) {
      if (stopping_) break;
      continue;
    }
    std::function<void()> fn = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    fn();
    lock.lock();
  }
  --alive_;
  ++done_;
  self->done = true;
}

void HttpWorkers::shutdown() {
  std::list<Worker> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    all.swap(workers_);
  }
  cv_.notify_all();
  for (Worker& w : all) {
    if (w.thread.joinable()) w.thread.join();
  }
}

int HttpWorkers::threads() {
  std::lock_guard<std::mutex> lock(mu_);
  return alive_;
}

int HttpWorkers::peak_threads() {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

}  // namespace slipway::server
