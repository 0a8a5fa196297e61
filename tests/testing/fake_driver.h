// Scripted fakes of the executor's effects: a driver whose results a test queues up, an HTTP
// client answering from a table, and a task runner that holds tasks until the test runs them.
#ifndef SLIPWAY_TESTS_TESTING_FAKE_DRIVER_H_
#define SLIPWAY_TESTS_TESTING_FAKE_DRIVER_H_

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "deploy/driver.h"

namespace slipway::testing {

class FakeDriver final : public deploy::Driver {
 public:
  // Whether it says its resources can be driven from any machine (Driver::shared).
  void SetShared(bool shared) { shared_ = shared; }
  bool shared() const override { return shared_; }
  // The next Apply of `key` ("shop/dev/web") returns `status` (OK by default).
  void FailNextApply(const std::string& key, absl::Status status) {
    absl::MutexLock lock(&mu_);
    apply_failures_[key].push_back(std::move(status));
  }
  void SetJobExitCode(int code) {
    absl::MutexLock lock(&mu_);
    job_exit_code_ = code;
  }
  void SetHealthy(bool healthy) {
    absl::MutexLock lock(&mu_);
    healthy_ = healthy;
  }
  std::vector<deploy::DeployRequest> applies() {
    absl::MutexLock lock(&mu_);
    return applies_;
  }
  std::vector<std::vector<std::string>> jobs() {
    absl::MutexLock lock(&mu_);
    return jobs_;
  }

  absl::StatusOr<deploy::DeployResult> Apply(const deploy::DeployRequest& request) override {
    absl::MutexLock lock(&mu_);
    applies_.push_back(request);
    history_.push_back("apply " + request.key);
    auto& failures = apply_failures_[request.key];
    if (!failures.empty()) {
      absl::Status s = failures.front();
      failures.pop_front();
      if (!s.ok()) return s;
    }
    deploy::DeployResult r;
    r.status["url"] = "http://fake/" + request.key;
    return r;
  }
  absl::StatusOr<bool> Healthy(const deploy::DeployRequest&) override {
    absl::MutexLock lock(&mu_);
    return healthy_;
  }
  absl::StatusOr<deploy::JobResult> RunJob(const deploy::DeployRequest& request,
                                           const std::vector<std::string>& extra_args,
                                           absl::Duration) override {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> argv(request.spec.command().apply().begin(),
                                  request.spec.command().apply().end());
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    jobs_.push_back(argv);
    return deploy::JobResult{job_exit_code_, "job output"};
  }
  absl::Status Teardown(const deploy::DeployRequest& request) override {
    absl::MutexLock lock(&mu_);
    if (fail_teardowns_ > 0) {
      --fail_teardowns_;
      return absl::UnavailableError("teardown refused (test)");
    }
    teardowns_.push_back(request.key);
    history_.push_back("teardown " + request.key);
    return absl::OkStatus();
  }
  // "apply <key>" and "teardown <key>", in the order they happened.
  std::vector<std::string> history() {
    absl::MutexLock lock(&mu_);
    return history_;
  }
  // Keys torn down, in order.
  std::vector<std::string> teardowns() {
    absl::MutexLock lock(&mu_);
    return teardowns_;
  }
  void FailTeardowns(int n) {
    absl::MutexLock lock(&mu_);
    fail_teardowns_ = n;
  }

 private:
  std::atomic<bool> shared_{true};
  std::vector<std::string> teardowns_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> history_ ABSL_GUARDED_BY(mu_);
  int fail_teardowns_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex mu_;
  std::map<std::string, std::deque<absl::Status>> apply_failures_ ABSL_GUARDED_BY(mu_);
  std::vector<deploy::DeployRequest> applies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<std::string>> jobs_ ABSL_GUARDED_BY(mu_);
  int job_exit_code_ ABSL_GUARDED_BY(mu_) = 0;
  bool healthy_ ABSL_GUARDED_BY(mu_) = true;
};

class FakeHttpClient final : public deploy::HttpClient {
 public:
  void SetStatus(const std::string& url, int status) {
    absl::MutexLock lock(&mu_);
    statuses_[url] = status;
  }
  std::vector<deploy::HttpRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  absl::StatusOr<deploy::HttpResponse> Send(const deploy::HttpRequest& request) override {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
    auto it = statuses_.find(request.url);
    if (it == statuses_.end()) return absl::UnavailableError("connection refused");
    return deploy::HttpResponse{it->second, "ok"};
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, int> statuses_ ABSL_GUARDED_BY(mu_);
  std::vector<deploy::HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
};

// Holds posted tasks until RunAll(), so a test decides when work "finishes".
class ManualTaskRunner final : public deploy::TaskRunner {
 public:
  void Post(std::function<void()> task) override {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
  }
  // Runs every task posted so far; returns how many ran.
  int RunAll() {
    std::vector<std::function<void()>> tasks;
    {
      absl::MutexLock lock(&mu_);
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) t();
    return static_cast<int>(tasks.size());
  }
  // Forgets every task not yet run: what a crashed controller's unfinished work amounts to.
  void DropAll() {
    absl::MutexLock lock(&mu_);
    tasks_.clear();
  }
  int pending() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(tasks_.size());
  }

 private:
  absl::Mutex mu_;
  std::vector<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slipway::testing

#endif  // SLIPWAY_TESTS_TESTING_FAKE_DRIVER_H_
