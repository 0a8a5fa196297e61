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
