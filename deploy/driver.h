// The deploy drivers' interface: what the run executor asks of a driver, and the effects it
// needs besides drivers (HTTP calls, background tasks). Every implementation is an effect at the
// edge of the system; tests use scripted fakes (tests/testing/fake_driver.h).
#ifndef SLIPWAY_DEPLOY_DRIVER_H_
#define SLIPWAY_DEPLOY_DRIVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::deploy {

// One resource instance to make real. Every template in `spec` is already resolved.
struct DeployRequest {
  // Unique and stable per resource instance: "<pipeline>/<stage>/<resource>".
  std::string key;
  v1::Resource spec;
  v1::Artifact artifact;
  // Values passed to the workload as environment variables (SLIPWAY_*), never through a shell.
  std::map<std::string, std::string> env;
  // The hostname label this resource is served at when a router is configured ("pr-62",
  // "shop-prod"); empty: not routed.
  std::string route_label;
};

struct DeployResult {
  // What the driver reports about the running instance: "pid", "port", "url", …
  std::map<std::string, std::string> status;
  // The exact image that runs, when the driver resolved one (see Artifact.digest).
  std::string digest;
};

struct JobResult {
  int exit_code = 0;
  // Tail of the job's combined output.
  std::string output;
};

// Thread-safe. Calls may block (they run on the executor's task threads) and must be
// idempotent: applying the same desired state twice changes nothing the second time.
class Driver {
 public:
  virtual ~Driver() = default;
  // Makes the resource run `request.artifact`. UNAVAILABLE or INTERNAL when it could not.
  virtual absl::StatusOr<DeployResult> Apply(const DeployRequest& request) = 0;
  // Whether the instance is up and passing its health check.
  virtual absl::StatusOr<bool> Healthy(const DeployRequest& request) = 0;
  // Runs a job resource to completion, with `extra_args` appended to its command.
  virtual absl::StatusOr<JobResult> RunJob(const DeployRequest& request,
                                           const std::vector<std::string>& extra_args,
                                           absl::Duration timeout) = 0;
  // Stops and removes the instance; OK if it does not exist.
  virtual absl::Status Teardown(const DeployRequest& request) = 0;
  // The instance's output: the last `tail` lines, then with `follow` new output until `sink`
  // returns false (it is also called with an empty piece while nothing arrives) or the instance
  // stops. UNIMPLEMENTED for drivers that keep no logs; NOT_FOUND when nothing runs.
  virtual absl::Status Logs(const DeployRequest& request, bool follow, int tail,
                            const std::function<bool(std::string_view)>& sink) {
    (void)request, (void)follow, (void)tail, (void)sink;
    return absl::UnimplementedError("this driver keeps no logs");
  }
  // Whether what it deploys can be driven from any machine (a command against a shared target,
  // a container engine every replica reaches), rather than living on the machine that started
  // it (a `process` service). A replica adopting a dead replica's run does not restart a
  // machine-local resource elsewhere.
  virtual bool shared() const { return true; }
};

// Drivers by name ("process", "command", "container"). Not owned.
using DriverRegistry = std::map<std::string, Driver*>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::map<std::string, std::string> headers;
  std::string body;
  absl::Duration timeout = absl::Seconds(10);
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// Outgoing HTTP for await_condition, http_request and message nodes. Thread-safe.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // UNAVAILABLE when no response was received (refused, timed out).
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
};

// Runs blocking work off the executor's thread. Thread-safe.
class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  virtual void Post(std::function<void()> task) = 0;
};

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_DRIVER_H_
