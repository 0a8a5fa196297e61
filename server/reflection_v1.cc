#include "server/reflection_v1.h"

#include <grpcpp/grpcpp.h>

#include <set>
#include <utility>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace slipway::server {
namespace {

namespace refl = grpc::reflection::v1;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

// A stream carries at most this many requests: a client describing every service needs a few
// dozen.
constexpr int kMaxRequestsPerStream = 10'000;

class ReflectionV1 final : public refl::ServerReflection::Service {
 public:
  explicit ReflectionV1(std::vector<std::string> services) : services_(std::move(services)) {}

  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<refl::ServerReflectionResponse, refl::ServerReflectionRequest>*
          stream) override {
    refl::ServerReflectionRequest request;
    int served = 0;
    while (stream->Read(&request)) {
      if (++served > kMaxRequestsPerStream) {
        return {grpc::StatusCode::RESOURCE_EXHAUSTED, "more than 10000 requests on one stream"};
      }
      refl::ServerReflectionResponse response;
      response.set_valid_host(request.host());
      *response.mutable_original_request() = request;
      Answer(request, &response);
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

 private:
  void Answer(const refl::ServerReflectionRequest& request,
              refl::ServerReflectionResponse* response) const {
    const DescriptorPool* pool = DescriptorPool::generated_pool();
    switch (request.message_request_case()) {
      case refl::ServerReflectionRequest::kListServices:
        for (const std::string& name : services_) {
          response->mutable_list_services_response()->add_service()->set_name(name);
        }
        return;
      case refl::ServerReflectionRequest::kFileByFilename:
        return Files(pool->FindFileByName(request.file_by_filename()),
                     "file " + request.file_by_filename(), response);
      case refl::ServerReflectionRequest::kFileContainingSymbol:
        return Files(pool->FindFileContainingSymbol(request.file_containing_symbol()),
                     "symbol " + request.file_containing_symbol(), response);
      case refl::ServerReflectionRequest::kFileContainingExtension: {
        const auto& ext = request.file_containing_extension();
        const auto* type = pool->FindMessageTypeByName(ext.containing_type());
        const auto* field =
            type == nullptr ? nullptr : pool->FindExtensionByNumber(type, ext.extension_number());
        return Files(
            field == nullptr ? nullptr : field->file(),
            "extension " + std::to_string(ext.extension_number()) + " of " + ext.containing_type(),
            response);
      }
      case refl::ServerReflectionRequest::kAllExtensionNumbersOfType: {
        const auto* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
        if (type == nullptr) {
          return Error(grpc::StatusCode::NOT_FOUND,
                       "type " + request.all_extension_numbers_of_type() + " not found", response);
        }
        std::vector<const google::protobuf::FieldDescriptor*> extensions;
        pool->FindAllExtensions(type, &extensions);
        auto* out = response->mutable_all_extension_numbers_response();
        out->set_base_type_name(type->full_name());
        for (const auto* e : extensions) out->add_extension_number(e->number());
        return;
      }
      case refl::ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
        break;
    }
    Error(grpc::StatusCode::INVALID_ARGUMENT, "message_request: required", response);
  }

  // `file` and, after it, every file it imports, directly or not.
  static void Files(const FileDescriptor* file, const std::string& what,
                    refl::ServerReflectionResponse* response) {
    if (file == nullptr) return Error(grpc::StatusCode::NOT_FOUND, what + " not found", response);
    std::vector<const FileDescriptor*> order = {file};
    std::set<const FileDescriptor*> seen = {file};
    for (size_t i = 0; i < order.size(); ++i) {
      for (int d = 0; d < order[i]->dependency_count(); ++d) {
        if (seen.insert(order[i]->dependency(d)).second) order.push_back(order[i]->dependency(d));
      }
    }
    auto* out = response->mutable_file_descriptor_response();
    for (const FileDescriptor* f : order) {
      google::protobuf::FileDescriptorProto proto;
      f->CopyTo(&proto);
      out->add_file_descriptor_proto(proto.SerializeAsString());
    }
  }

  static void Error(grpc::StatusCode code, const std::string& message,
                    refl::ServerReflectionResponse* response) {
    response->mutable_error_response()->set_error_code(static_cast<int>(code));
    response->mutable_error_response()->set_error_message(message);
  }

  std::vector<std::string> services_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeReflectionV1Service(std::vector<std::string> services) {
  return std::make_unique<ReflectionV1>(std::move(services));
}

}  // namespace slipway::server
