// How the CLI finds and talks to slipwayd: server address, TLS and token, from flags, the
// environment, or the local daemon's data dir.
#ifndef SLIPWAY_CLI_CONNECTION_H_
#define SLIPWAY_CLI_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace slipway::cli {

struct ConnectionFlags {
  std::string server;    // --server, else $SLIPWAY_SERVER
  std::string token;     // --token, else $SLIPWAY_TOKEN
  std::string data_dir;  // --data-dir, else the default data dir
  std::string ca_cert;   // --ca-cert, else $SLIPWAY_CA_CERT; implies TLS
  bool tls = false;      // --tls
  int timeout_seconds = 30;
};

struct Connection {
  std::string address;
  std::string token;
  bool tls = false;
  std::shared_ptr<grpc::Channel> channel;
  int timeout_seconds = 30;

  // A context with the bearer token and the deadline set.
  std::unique_ptr<grpc::ClientContext> NewContext() const;
};

// Resolves the address (flag, $SLIPWAY_SERVER, the data dir's endpoints.json, 127.0.0.1:7420),
// the token (flag, $SLIPWAY_TOKEN, the data dir's admin.token) and TLS settings, and opens a
// channel. FAILED_PRECONDITION if no token can be found, naming the places tried.
absl::StatusOr<Connection> Connect(const ConnectionFlags& flags);

// "NOT_FOUND: pipeline \"shop\" not found"; UNAVAILABLE explains how to reach the daemon.
std::string DescribeError(const grpc::Status& status, const std::string& address);

// Print "slipway: <message>" to stderr and return exit code 1.
int Fail(const std::string& message);
// Prints "slipway: <message>" and returns 2, the exit code of a usage error: a command given
// arguments it cannot take. Nothing was sent to the server.
int UsageFail(const std::string& message);
// Fail with the described error of a call on `c`.
int RpcFail(const grpc::Status& status, const Connection& c);

}  // namespace slipway::cli

#endif  // SLIPWAY_CLI_CONNECTION_H_
