// A driver for benchmarks that completes every call at once and notes when each run first
// reached it (by SLIPWAY_RUN_ID), so benchmarks measure the controller, not workloads.
#ifndef SLIPWAY_BENCH_NOOP_DRIVER_H_
#define SLIPWAY_BENCH_NOOP_DRIVER_H_

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "deploy/driver.h"

namespace slipway::bench {

class NoopDriver final : public deploy::Driver {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  absl::StatusOr<deploy::DeployResult> Apply(const deploy::DeployRequest& request) override {
    auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    auto run = request.env.find("SLIPWAY_RUN_ID");
    if (run != request.env.end()) first_.emplace(run->second, now);
    ++applies_;
    return deploy::DeployResult{};
  }
  absl::StatusOr<bool> Healthy(const deploy::DeployRequest&) override { return true; }
  absl::StatusOr<deploy::JobResult> RunJob(const deploy::DeployRequest&,
                                           const std::vector<std::string>&,
                                           absl::Duration) override {
    return deploy::JobResult{};
  }
  absl::Status Teardown(const deploy::DeployRequest&) override { return absl::OkStatus(); }

  // Run id → when its first Apply arrived.
  std::map<std::string, TimePoint> first() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_;
  }
  int applies() {
    std::lock_guard<std::mutex> lock(mu_);
    return applies_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, TimePoint> first_;
  int applies_ = 0;
};

}  // namespace slipway::bench

#endif  // SLIPWAY_BENCH_NOOP_DRIVER_H_
