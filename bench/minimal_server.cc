// The framework baseline: a gRPC server from the same libraries as slipwayd, answering
// slipway.bench.v1.Baseline/Empty with an empty message and doing nothing else. Prints its port.
//   minimal_server [host:port]   (default 127.0.0.1:0)
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

}  // namespace

int main(int argc, char** argv) {
  std::string address = argc > 1 ? argv[1] : "127.0.0.1:0";
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  BaselineService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server) return 1;
  std::printf("%d\n", port);
  std::fflush(stdout);
  int sig;
  sigwait(&signals, &sig);
  server->Shutdown();
  return 0;
}
