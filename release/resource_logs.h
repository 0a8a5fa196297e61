// A deployed resource's output, read through its driver: the stage's (or preview's) recorded
// resource names the driver and the instance.
#ifndef SLIPWAY_RELEASE_RESOURCE_LOGS_H_
#define SLIPWAY_RELEASE_RESOURCE_LOGS_H_

#include <functional>
#include <string_view>

#include "deploy/driver.h"
#include "slipway/v1/release_service.pb.h"
#include "storage/database.h"

namespace slipway::release {

// Thread-safe. Not owned collaborators must outlive it.
class ResourceLogReader {
 public:
  ResourceLogReader(storage::Database* db, deploy::DriverRegistry drivers)
      : db_(db), drivers_(std::move(drivers)) {}

  // Streams the output to `sink` (see deploy::Driver::Logs). INVALID_ARGUMENT naming the field
  // for a bad request, NOT_FOUND when the resource was never deployed, UNIMPLEMENTED when its
  // driver keeps no logs.
  absl::Status Stream(const v1::WatchResourceLogsRequest& request,
                      const std::function<bool(std::string_view)>& sink);

 private:
  storage::Database* db_;
  deploy::DriverRegistry drivers_;
};

}  // namespace slipway::release

#endif  // SLIPWAY_RELEASE_RESOURCE_LOGS_H_
