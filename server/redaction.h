// Every gRPC response leaves slipwayd through RedactSecrets (pipeline/secrets.h), whatever
// service or scope produced it: a gRPC server interceptor rewrites each outgoing message that
// holds a secret or a URL credential, and masks URL credentials in error messages. A new RPC or
// a new field therefore cannot leak a marked secret by forgetting a call. The same interceptor
// turns gRPC's empty INTERNAL for an undecodable request into INVALID_ARGUMENT saying so, and
// gives any other error without a message one.
#ifndef SLIPWAY_SERVER_REDACTION_H_
#define SLIPWAY_SERVER_REDACTION_H_

#include <memory>

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}  // namespace grpc::experimental

namespace slipway::server {

// Methods registered as raw (ByteBuffer) handlers carry already-serialized responses, which
// the interceptor cannot read; each such method must redact before it serializes. The factory
// skips these and only these full method names.
inline constexpr const char* kRawMethods[] = {"/slipway.v1.PipelineService/GetPipeline"};

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRedactionInterceptorFactory();

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_REDACTION_H_
