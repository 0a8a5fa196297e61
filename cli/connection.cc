#include "cli/connection.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/paths.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace slipway::cli {
namespace {

// Where the .deb's slipwayd keeps its state (StateDirectory=slipway).
constexpr const char* kSystemDataDir = "/var/lib/slipway";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string CodeName(grpc::StatusCode code) {
  // gRPC and absl share status code numbers and names.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

std::unique_ptr<grpc::ClientContext> Connection::NewContext() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", "Bearer " + token);
  // Recorded with pipeline revisions ("source: cli").
  ctx->AddMetadata("slipway-client", "cli");
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_seconds));
  return ctx;
}

absl::StatusOr<Connection> Connect(const ConnectionFlags& flags) {
  Connection c;
  c.timeout_seconds = flags.timeout_seconds;
  std::string data_dir = flags.data_dir.empty() ? DefaultDataDir() : flags.data_dir;
  // With no data dir of one's own, the packaged daemon's (readable by root and slipway).
  if (flags.data_dir.empty() && Env("SLIPWAY_DATA_DIR").empty() &&
      ReadFileOrEmpty(data_dir + "/admin.token").empty() &&
      !ReadFileOrEmpty(std::string(kSystemDataDir) + "/admin.token").empty()) {
    data_dir = kSystemDataDir;
  }
  bool endpoints_tls = false;
  c.address = !flags.server.empty() ? flags.server : Env("SLIPWAY_SERVER");
  if (c.address.empty()) {
    std::string endpoints = ReadFileOrEmpty(data_dir + "/endpoints.json");
    if (!endpoints.empty()) {
      auto j = nlohmann::json::parse(endpoints, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("grpc") && j["grpc"].is_string()) {
        c.address = j["grpc"].get<std::string>();
        endpoints_tls = j.value("tls", false);
      }
    }
  }
  if (c.address.empty()) c.address = "127.0.0.1:7420";

  c.token = !flags.token.empty() ? flags.token : Env("SLIPWAY_TOKEN");
  if (c.token.empty()) {
    c.token = std::string(absl::StripAsciiWhitespace(ReadFileOrEmpty(data_dir + "/admin.token")));
  }
  if (c.token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no token: pass --token, set SLIPWAY_TOKEN, or run where ", data_dir,
                     "/admin.token is readable (the local daemon writes it on first start)"));
  }
  std::string ca = !flags.ca_cert.empty() ? flags.ca_cert : Env("SLIPWAY_CA_CERT");
  c.tls = flags.tls || !ca.empty() || endpoints_tls;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (c.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!ca.empty()) {
      ssl.pem_root_certs = ReadFileOrEmpty(ca);
      if (ssl.pem_root_certs.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("--ca-cert: cannot read ", ca));
      }
    }
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  c.channel = grpc::CreateChannel(c.address, creds);
  return c;
}

std::string DescribeError(const grpc::Status& status, const std::string& address) {
  std::string msg = absl::StrCat(CodeName(status.error_code()), ": ", status.error_message());
  // With field violations, print each on its own line from them, not from the text.
  google::rpc::Status details;
  google::rpc::BadRequest bad;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
    for (const auto& any : details.details()) {
      if (any.type_url() == "type.googleapis.com/google.rpc.BadRequest" &&
          bad.ParseFromString(any.value()) && bad.field_violations_size() > 0) {
        msg = absl::StrCat(CodeName(status.error_code()), ": ", bad.field_violations_size(),
                           bad.field_violations_size() == 1 ? " problem" : " problems");
        for (const auto& v : bad.field_violations()) {
          absl::StrAppend(&msg, "\n  ", v.field().empty() ? "" : v.field() + ": ", v.description());
        }
      }
    }
  }
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    absl::StrAppend(&msg, "\n(is slipwayd running at ", address,
                    "? pass --server host:port or set SLIPWAY_SERVER)");
  }
  return msg;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "slipway: %s\n", message.c_str());
  return 1;
}

int UsageFail(const std::string& message) {
  std::fprintf(stderr, "slipway: %s\n", message.c_str());
  return 2;
}

int RpcFail(const grpc::Status& status, const Connection& c) {
  return Fail(DescribeError(status, c.address));
}

}  // namespace slipway::cli
