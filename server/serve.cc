// The one path every call takes: authenticate, run the domain operation with the call's audit
// record riding along, convert the status, record metrics, log and audit the outcome.
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error_reason.h"
#include "google/protobuf/message.h"
#include "server/grpc_status.h"
#include "server/services.h"

namespace slipway::server {
namespace {

std::string AuthorizationHeader(const grpc::ServerContextBase* context) {
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// Read-only methods by their verb; every other method changes something and is audited.
bool IsMutation(std::string_view method) {
  std::string_view name = method.substr(method.rfind('/') + 1);
  for (std::string_view verb : {"Get", "List", "Watch", "Validate", "Diff"}) {
    if (name.substr(0, verb.size()) == verb) return false;
  }
  return true;
}

// What an audit line names of the request: its top-level pipeline, stage, name, id, target
// fields and the name of a pipeline it carries. Bounded: names are at most 253 characters.
std::string AuditTarget(const google::protobuf::Message* request) {
  if (request == nullptr) return "";
  const auto* d = request->GetDescriptor();
  const auto* r = request->GetReflection();
  std::string out;
  for (const char* field : {"pipeline", "stage", "name", "id", "number", "to_release"}) {
    const auto* f = d->FindFieldByName(field);
    if (f == nullptr || f->is_repeated()) continue;
    std::string value;
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
      value = r->GetString(*request, f).substr(0, 253);
    } else if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_INT64) {
      if (int64_t n = r->GetInt64(*request, f); n != 0) value = std::to_string(n);
    } else if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
               r->HasField(*request, f)) {
      const auto& sub = r->GetMessage(*request, f);
      if (const auto* n = sub.GetDescriptor()->FindFieldByName("name");
          n != nullptr && n->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
        value = sub.GetReflection()->GetString(sub, n).substr(0, 253);
      }
    }
    if (!value.empty()) absl::StrAppend(&out, " ", field, "=\"", value, "\"");
  }
  return out;
}

// The audit record's target: "pipeline/stage", the pipeline, or the name or id of what the call
// acts on ("run-…", "pr-12", "tok-…").
std::string AuditTargetPath(const google::protobuf::Message* request) {
  if (request == nullptr) return "";
  const auto* d = request->GetDescriptor();
  const auto* r = request->GetReflection();
  auto text = [&](const char* name) -> std::string {
    const auto* f = d->FindFieldByName(name);
    if (f == nullptr || f->is_repeated()) return "";
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
      return r->GetString(*request, f).substr(0, 253);
    }
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
        r->HasField(*request, f)) {
      const auto& sub = r->GetMessage(*request, f);
      if (const auto* n = sub.GetDescriptor()->FindFieldByName("name");
          n != nullptr && n->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_STRING &&
          !n->is_repeated()) {
        return sub.GetReflection()->GetString(sub, n).substr(0, 253);
      }
    }
    return "";
  };
  std::string target = text("pipeline");
  if (std::string stage = text("stage"); !stage.empty()) {
    target = target.empty() ? stage : absl::StrCat(target, "/", stage);
  }
  if (!target.empty()) return target;
  for (const char* name : {"name", "id"}) {
    if (std::string v = text(name); !v.empty()) return v;
  }
  return "";
}

// A request with `dry_run: true` changes nothing.
bool IsDryRun(const google::protobuf::Message* request) {
  if (request == nullptr) return false;
  const auto* f = request->GetDescriptor()->FindFieldByName("dry_run");
  return f != nullptr && f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_BOOL &&
         !f->is_repeated() && request->GetReflection()->GetBool(*request, f);
}

std::string RequestId(const google::protobuf::Message* request) {
  if (request == nullptr) return "";
  const auto* f = request->GetDescriptor()->FindFieldByName("request_id");
  if (f == nullptr || f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING) return "";
  return request->GetReflection()->GetString(*request, f).substr(0, 128);
}

}  // namespace

std::string Metadata(const grpc::ServerContextBase* context, const char* key) {
  const auto& md = context->client_metadata();
  auto it = md.find(key);
  if (it == md.end()) return "";
  return std::string(it->second.data(), std::min<size_t>(it->second.size(), 256));
}

CallOrigin OriginOf(const CallDeps& deps, const grpc::ServerContextBase* context) {
  CallOrigin out;
  out.address = context->peer();
  // Only the browser API's gateway, which knows this process's key, may say whose call it
  // passes on.
  if (!deps.gateway_key.empty()) {
    const std::string key = Metadata(context, "slipway-gateway-key");
    if (key.size() == deps.gateway_key.size() &&
        CRYPTO_memcmp(key.data(), deps.gateway_key.data(), key.size()) == 0) {
      if (std::string peer = Metadata(context, "slipway-peer"); !peer.empty()) {
        out.address = absl::StrCat("http:", peer.substr(0, 64));
      }
    }
  }
  std::string client = Metadata(context, "slipway-client");
  if (client == "cli") {
    out.client = v1::REVISION_SOURCE_CLI;
  } else if (client == "dashboard") {
    out.client = v1::REVISION_SOURCE_DASHBOARD;
  }
  return out;
}

pipeline::Author AuthorOf(const CallDeps& deps, const Principal& principal,
                          const grpc::ServerContextBase* context) {
  pipeline::Author a;
  a.actor = "token:" + principal.token_id;
  a.description = principal.description;
  a.source = OriginOf(deps, context).client;
  return a;
}

namespace {

v1::AuditRecord AuditRecordOf(const CallDeps& deps, const Principal& actor, std::string_view action,
                              const google::protobuf::Message* request,
                              const grpc::ServerContextBase* context, const absl::Status& outcome) {
  v1::AuditRecord record;
  record.set_actor_kind(v1::ACTOR_KIND_TOKEN);
  record.set_actor("token:" + actor.token_id);
  record.set_actor_description(actor.description);
  record.set_action(std::string(action));
  record.set_target(AuditTargetPath(request));
  record.set_request_id(RequestId(request));
  record.set_source_address(OriginOf(deps, context).address);
  record.set_outcome(storage::OutcomeOf(outcome));
  return record;
}

}  // namespace

grpc::Status Serve(const CallDeps& deps, grpc::ServerContextBase* context, const char* method,
                   v1::Scope scope, const google::protobuf::Message* request,
                   const std::function<absl::Status(const Principal&)>& fn) {
  // Latency of the server's own work, for metrics only; not domain time.
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<Principal> principal =
      deps.tokens->Authenticate(AuthorizationHeader(context), scope);
  const bool audited = IsMutation(method) && !IsDryRun(request);
  std::string_view short_method = std::string_view(method).substr(sizeof("/slipway.v1.") - 1);
  // The audit record rides with the call's first committed write (one transaction, one fsync);
  // a call that commits nothing, or fails after committing, gets a record of its own.
  std::shared_ptr<v1::AuditRecord> record;
  storage::WriteRider rider;
  if (audited && deps.audit != nullptr && principal.ok()) {
    record = std::make_shared<v1::AuditRecord>(
        AuditRecordOf(deps, *principal, short_method, request, context, absl::OkStatus()));
    rider = deps.audit->Rider(record);
  }
  absl::Status status = principal.status();
  if (principal.ok()) {
    storage::ScopedWriteRider scope_rider(record != nullptr ? &rider : nullptr);
    status = fn(*principal);
  }
  grpc::Status result = ToGrpcStatus(status);
  if (ErrorReason reason = ReasonOf(status); reason != ErrorReason::kNone) {
    // For clients: the typed reason, so that none has to read the message.
    context->AddTrailingMetadata("slipway-error-reason", std::string(ReasonName(reason)));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  deps.metrics->ObserveRpc(method, static_cast<int>(result.error_code()), seconds);
  if (audited) {
    // One line per mutation: who, what, which request, and how it ended.
    const std::string request_id = RequestId(request);
    if (deps.audit != nullptr) {
      if (rider.committed) deps.audit->ShipCommitted(*record);
      if (!rider.committed || !status.ok()) {
        // A valid token without the scope is recorded too; a call without a valid token is only
        // logged, so that nobody without a token can fill the trail.
        absl::StatusOr<Principal> actor = principal;
        if (absl::IsPermissionDenied(principal.status())) {
          actor = deps.tokens->Authenticate(AuthorizationHeader(context), v1::SCOPE_READ);
        }
        if (actor.ok()) {
          // logged by Record
          deps.audit->Record(AuditRecordOf(deps, *actor, short_method, request, context, status))
              .IgnoreError();
        }
      }
    }
    if (principal.ok()) {
      spdlog::info("audit: {} by token {} (\"{}\"){}{} -> {}", short_method, principal->token_id,
                   principal->description, AuditTarget(request),
                   request_id.empty() ? "" : " request_id=\"" + request_id + "\"",
                   absl::StatusCodeToString(status.code()));
    } else {
      spdlog::warn("audit: {} refused{} -> {}: {}", short_method, AuditTarget(request),
                   absl::StatusCodeToString(status.code()), std::string(status.message()));
    }
  }
  if (status.code() == absl::StatusCode::kInternal ||
      status.code() == absl::StatusCode::kDataLoss ||
      status.code() == absl::StatusCode::kUnavailable) {
    spdlog::error("{} failed: {}", method, std::string(status.message()));
  }
  return result;
}

}  // namespace slipway::server
