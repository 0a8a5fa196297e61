// grpc.reflection.v1.ServerReflection: what gRPC 1.51's plugin serves as v1alpha, served as
// v1 too, from the generated descriptor pool. Clients that only speak v1 (newer grpcurl,
// buf curl, Postman) can list the services and fetch their descriptors.
#ifndef SLIPWAY_SERVER_REFLECTION_V1_H_
#define SLIPWAY_SERVER_REFLECTION_V1_H_

#include <memory>
#include <string>
#include <vector>

namespace grpc {
class Service;
}

namespace slipway::server {

// The service, answering list_services with `services` (fully qualified names) and the
// other requests from the generated pool.
std::unique_ptr<grpc::Service> MakeReflectionV1Service(std::vector<std::string> services);

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_REFLECTION_V1_H_
