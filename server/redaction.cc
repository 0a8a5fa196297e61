#include "server/redaction.h"

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/url_credentials.h"
#include "google/protobuf/message.h"
#include "pipeline/secrets.h"

namespace slipway::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RedactionInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit RedactionInterceptor(bool raw) : raw_(raw) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!raw_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      undecodable_request_ = true;
    }
    if (!raw_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      // Typed handlers hand gRPC a pointer to their generated message, which derives from
      // protobuf::Message first; serialization happens after interceptors run.
      const auto* message = static_cast<const google::protobuf::Message*>(methods->GetSendMessage());
      if (message != nullptr && pipeline::NeedsRedaction(*message)) {
        // The handler's message is left untouched; the copy lives until the next send.
        copy_.reset(message->New());
        copy_->CopyFrom(*message);
        pipeline::RedactSecrets(copy_.get());
        methods->ModifySendMessage(copy_.get());
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      // gRPC answers a request it cannot decode with INTERNAL and no message. The bytes came from
      // the client: say what is wrong with them.
      if (undecodable_request_ && status.error_code() == grpc::StatusCode::INTERNAL &&
          status.error_message().empty()) {
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "request: cannot be decoded: not valid protobuf for this method, or "
                              "messages nested deeper than 100 levels (the decoder's limit)");
        methods->ModifySendStatus(status);
      } else if (!status.ok() && status.error_message().empty()) {
        // No error leaves slipwayd without words.
        status = grpc::Status(status.error_code(),
                              "slipwayd gave no reason for this error; its log may say more",
                              status.error_details());
        methods->ModifySendStatus(status);
      }
      if (HasUrlCredentials(status.error_message())) {
        methods->ModifySendStatus(grpc::Status(status.error_code(),
                                               MaskUrlCredentials(status.error_message()),
                                               status.error_details()));
      }
    }
    methods->Proceed();
  }

 private:
  bool raw_;
  bool undecodable_request_ = false;
  std::unique_ptr<google::protobuf::Message> copy_;
};

class RedactionInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    bool raw = false;
    for (const char* m : kRawMethods) raw = raw || std::string_view(info->method()) == m;
    return new RedactionInterceptor(raw);
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRedactionInterceptorFactory() {
  return std::make_unique<RedactionInterceptorFactory>();
}

}  // namespace slipway::server
