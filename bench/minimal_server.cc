// The framework baseline: a gRPC server from the same libraries as slipwayd, answering
// slipway.bench.v1.Baseline/Empty with an empty message and doing nothing else. Prints its port.
//   minimal_server [sync|callback] [host:port]   (default: sync on 127.0.0.1:0)
// `sync` uses the synchronous API (as most slipwayd methods do); `callback` the callback API
// with a raw ByteBuffer handler (as slipwayd's GetPipeline does).
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <cstdio>

#include "slipway/bench/v1/baseline.grpc.pb.h"

namespace {

class BaselineService final : public slipway::bench::v1::Baseline::Service {
  grpc::Status Empty(grpc::ServerContext*, const slipway::bench::v1::EmptyRequest*,
                     slipway::bench::v1::EmptyResponse*) override {
    return grpc::Status::OK;
  }
};

class CallbackBaselineService final
    : public slipway::bench::v1::Baseline::WithRawCallbackMethod_Empty<
          slipway::bench::v1::Baseline::Service> {
  grpc::ServerUnaryReactor* Empty(grpc::CallbackServerContext* context, const grpc::ByteBuffer*,
                                  grpc::ByteBuffer* response) override {
    grpc::Slice empty;
    *response = grpc::ByteBuffer(&empty, 1);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "sync";
  std::string address = argc > 2 ? argv[2] : "127.0.0.1:0";
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  BaselineService sync_service;
  CallbackBaselineService callback_service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (mode == "callback") {
    builder.RegisterService(&callback_service);
  } else {
    builder.RegisterService(&sync_service);
  }
  auto server = builder.BuildAndStart();
  if (!server) return 1;
  std::printf("%d\n", port);
  std::fflush(stdout);
  int sig;
  sigwait(&signals, &sig);
  server->Shutdown();
  return 0;
}
