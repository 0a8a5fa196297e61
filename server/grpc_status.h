// The one mapping from absl::Status to grpc::Status.
#ifndef SLIPWAY_SERVER_GRPC_STATUS_H_
#define SLIPWAY_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace slipway::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_GRPC_STATUS_H_
