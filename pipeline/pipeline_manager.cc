#include "pipeline/pipeline_manager.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "google/protobuf/util/message_differencer.h"
#include "pipeline/secrets.h"
#include "pipeline/spec_diff.h"
#include "pipeline/validation.h"
#include "storage/request_log.h"

namespace slipway::pipeline {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 100;

v1::Pipeline Redacted(v1::Pipeline p) {
  RedactSecrets(&p);
  return p;
}

absl::Status CheckRequestId(std::string_view id) {
  if (id.size() > 128) {
    return absl::InvalidArgumentError("request_id: at most 128 characters");
  }
  return absl::OkStatus();
}

// The request's `pipeline` field: a pipeline name.
absl::Status CheckPipelineField(std::string_view name) {
  if (absl::Status s = CheckDnsLabel(name); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline: ", s.message()));
  }
  return absl::OkStatus();
}

// A list request's page size: 1 to kMaxPageSize, 0 for the default.
absl::StatusOr<int> PageSize(int requested) {
  if (requested < 0 || requested > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: ", requested, " is outside 1-", kMaxPageSize));
  }
  return requested == 0 ? kDefaultPageSize : requested;
}

constexpr size_t kMaxMessageBytes = 1000;

absl::Status CheckMessage(std::string_view message) {
  if (message.size() > kMaxMessageBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("message: ", message.size(), " bytes; at most ", kMaxMessageBytes));
  }
  if (!IsValidUtf8(message)) return absl::InvalidArgumentError("message: not valid UTF-8");
  return absl::OkStatus();
}

// The spec an update of `current` to `sent` stores: redacted secrets take the stored values;
// INVALID_ARGUMENT naming the first problem.
absl::StatusOr<v1::Pipeline> UpdatedSpec(const v1::Pipeline& current, const v1::Pipeline& sent) {
  v1::Pipeline next = SpecOf(sent);
  RestoreRedactedSecrets(&next, current);
  RETURN_IF_ERROR(ProblemsToStatus(pipeline::Validate(next)));
  return next;
}

std::string ElementName(const Message& m) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName("name");
  return f != nullptr ? m.GetReflection()->GetString(m, f) : "";
}

}  // namespace

v1::Pipeline SpecOf(const v1::Pipeline& p) {
  v1::Pipeline spec = p;
  spec.clear_new_webhook_urls();
  spec.clear_uid();
  spec.clear_etag();
  spec.clear_revision();
  spec.clear_create_time();
  spec.clear_update_time();
  return spec;
}

std::vector<std::string> ChangedPaths(const v1::Pipeline& before, const v1::Pipeline& after) {
  std::vector<std::string> out;
  const auto* d = v1::Pipeline::descriptor();
  const auto* r = v1::Pipeline::GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->number() >= 100) continue;  // output-only metadata
    if (f->is_map()) {
      MessageDifferencer differ;  // compares map fields as maps, whatever their entry order
      if (!differ.CompareWithFields(before, after, {f}, {f})) out.push_back(f->name());
      continue;
    }
    if (!f->is_repeated()) {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING &&
          r->GetString(before, f) != r->GetString(after, f)) {
        out.push_back(f->name());
      }
      continue;
    }
    std::map<std::string, const Message*> old_items, new_items;
    for (int k = 0; k < r->FieldSize(before, f); ++k) {
      const Message& m = r->GetRepeatedMessage(before, f, k);
      old_items[ElementName(m)] = &m;
    }
    for (int k = 0; k < r->FieldSize(after, f); ++k) {
      const Message& m = r->GetRepeatedMessage(after, f, k);
      new_items[ElementName(m)] = &m;
    }
    bool order_changed = false;
    for (int k = 0; k < r->FieldSize(before, f) && k < r->FieldSize(after, f); ++k) {
      if (ElementName(r->GetRepeatedMessage(before, f, k)) !=
          ElementName(r->GetRepeatedMessage(after, f, k))) {
        order_changed = true;
      }
    }
    for (const auto& [name, m] : new_items) {
      auto it = old_items.find(name);
      if (it == old_items.end()) {
        out.push_back(absl::StrCat("+", f->name(), "[", name, "]"));
      } else if (!MessageDifferencer::Equals(*it->second, *m)) {
        out.push_back(absl::StrCat(f->name(), "[", name, "]"));
      }
    }
    for (const auto& [name, m] : old_items) {
      if (!new_items.contains(name)) out.push_back(absl::StrCat("-", f->name(), "[", name, "]"));
    }
    if (order_changed && old_items.size() == new_items.size()) {
      out.push_back(absl::StrCat(f->name(), " (order)"));
    }
  }
  return out;
}

absl::Status PipelineManager::SyncWebhookTokens(storage::Transaction& tx, const v1::Pipeline& p,
                                                std::map<std::string, std::string>* urls) {
  storage::WebhookTokenRepository tokens;
  ASSIGN_OR_RETURN(std::vector<std::string> existing, tokens.Names(tx, p.name()));
  std::set<std::string> wanted;
  for (const auto& w : p.webhook_triggers()) wanted.insert(w.name());
  for (const auto& name : existing) {
    if (!wanted.contains(name)) RETURN_IF_ERROR(tokens.Delete(tx, p.name(), name));
  }
  for (const auto& name : wanted) {
    if (std::find(existing.begin(), existing.end(), name) != existing.end()) continue;
    std::string token = "wht_" + ids_->RandomHex(32);
    RETURN_IF_ERROR(tokens.Put(tx, Sha256(token), p.name(), name));
    (*urls)[name] = "/hooks/t/" + token;
  }
  return absl::OkStatus();
}

int64_t PipelineManager::NowMs() const { return absl::ToUnixMillis(clock_->Now()); }

absl::Status PipelineManager::StampNew(storage::Transaction& tx, v1::Pipeline& p) {
  const google::protobuf::Timestamp now = ProtoTime(clock_->Now());
  ASSIGN_OR_RETURN(int64_t latest, revisions_.Latest(tx, p.name()));
  p.set_uid(ids_->NewUid());
  p.set_etag(ids_->RandomHex(8));
  p.set_revision(latest + 1);
  *p.mutable_create_time() = now;
  *p.mutable_update_time() = now;
  return absl::OkStatus();
}

absl::Status PipelineManager::RecordRevision(storage::Transaction& tx, const v1::Pipeline& stored,
                                             const Author& author, const std::string& message,
                                             const std::vector<std::string>& changed,
                                             bool deleted) {
  v1::PipelineRevision r;
  r.set_pipeline(stored.name());
  r.set_revision(deleted ? stored.revision() + 1 : stored.revision());
  r.set_uid(stored.uid());
  *r.mutable_spec() = SpecOf(stored);
  r.set_actor(author.actor);
  r.set_actor_description(author.description);
  r.set_source(author.source);
  *r.mutable_create_time() = ProtoTime(clock_->Now());
  r.set_message(message);
  for (const auto& c : changed) r.add_changed(c);
  r.set_deleted(deleted);
  r.set_git_sha(author.git_sha);
  return revisions_.Put(tx, r);
}

void AddFieldChanges(const v1::Pipeline& before, const v1::Pipeline& after,
                     google::protobuf::RepeatedPtrField<v1::FieldChange>* out) {
  for (FieldDiff& d : DiffSpecs(SpecOf(before), SpecOf(after))) {
    v1::FieldChange* c = out->Add();
    c->set_path(std::move(d.path));
    c->set_before(std::move(d.before));
    c->set_after(std::move(d.after));
  }
}

void PipelineManager::StampUpdate(const v1::Pipeline& current, v1::Pipeline& next) {
  next.set_uid(current.uid());
  *next.mutable_create_time() = current.create_time();
  next.set_revision(current.revision() + 1);
  next.set_etag(ids_->RandomHex(8));
  *next.mutable_update_time() = ProtoTime(clock_->Now());
}

absl::StatusOr<v1::Pipeline> PipelineManager::Create(const v1::CreatePipelineRequest& request,
                                                     const Author& author) {
  RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  RETURN_IF_ERROR(CheckMessage(request.message()));
  v1::Pipeline p = SpecOf(request.pipeline());
  RETURN_IF_ERROR(ProblemsToStatus(pipeline::Validate(p)));
  // Token URLs are returned once and never stored in plain text (not even in the request log).
  std::map<std::string, std::string> urls;
  ASSIGN_OR_RETURN(
      v1::Pipeline created,
      storage::WriteOnce<v1::Pipeline>(
          *db_, "CreatePipeline", request.request_id(), request, NowMs(),
          [&](storage::Transaction& tx) -> absl::StatusOr<v1::Pipeline> {
            RETURN_IF_ERROR(StampNew(tx, p));
            RETURN_IF_ERROR(repo_.Insert(tx, p));
            RETURN_IF_ERROR(SyncWebhookTokens(tx, p, &urls));
            RETURN_IF_ERROR(RecordRevision(tx, p, author, request.message(), {}, false));
            return Redacted(p);
          }));
  Invalidate(created.name());
  for (auto& [k, v] : urls) (*created.mutable_new_webhook_urls())[k] = v;
  return created;
}

absl::StatusOr<std::shared_ptr<const PipelineManager::CachedPipeline>> PipelineManager::Lookup(
    std::string_view name) {
  if (absl::Status s = CheckDnsLabel(name); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("name: ", s.message()));
  }
  const std::string key(name);
  uint64_t generation;
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    generation = generation_;
  }
  v1::Pipeline p;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(p, repo_.Get(tx, name));
    return absl::OkStatus();
  }));
  auto entry = std::make_shared<CachedPipeline>();
  entry->redacted = Redacted(std::move(p));
  entry->serialized = entry->redacted.SerializeAsString();
  absl::MutexLock lock(&cache_mu_);
  if (generation_ == generation) cache_[key] = entry;
  return entry;
}

absl::StatusOr<v1::Pipeline> PipelineManager::Get(std::string_view name) {
  ASSIGN_OR_RETURN(auto entry, Lookup(name));
  return entry->redacted;
}

absl::StatusOr<std::shared_ptr<const std::string>> PipelineManager::GetSerialized(
    std::string_view name) {
  ASSIGN_OR_RETURN(auto entry, Lookup(name));
  return std::shared_ptr<const std::string>(entry, &entry->serialized);
}

void PipelineManager::Invalidate(const std::string& name) {
  absl::MutexLock lock(&cache_mu_);
  cache_.erase(name);
  ++generation_;
}

absl::StatusOr<v1::ListPipelinesResponse> PipelineManager::List(
    const v1::ListPipelinesRequest& request) {
  ASSIGN_OR_RETURN(const int page_size, PageSize(request.page_size()));
  for (char c : request.name_prefix()) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return absl::InvalidArgumentError(
          "name_prefix: only a-z, 0-9 and '-' can appear in pipeline names");
    }
  }
  std::string after;
  if (!request.page_token().empty()) {
    // The token is the last name of the previous page, hex-encoded.
    const std::string& t = request.page_token();
    bool ok = t.size() % 2 == 0 && t.size() <= 126;
    for (size_t i = 0; ok && i < t.size(); i += 2) {
      int v = 0;
      for (int k = 0; k < 2; ++k) {
        char c = t[i + k];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (d < 0) ok = false;
        v = v * 16 + d;
      }
      after.push_back(static_cast<char>(v));
    }
    if (!ok || !CheckDnsLabel(after).ok()) {
      return absl::InvalidArgumentError(
          "page_token: not a token returned by ListPipelines; start again without it");
    }
  }
  v1::ListPipelinesResponse out;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto items, repo_.List(tx, request.name_prefix(), after, page_size + 1));
    for (size_t i = 0; i < items.size() && i < static_cast<size_t>(page_size); ++i) {
      *out.add_pipelines() = Redacted(std::move(items[i]));
    }
    if (items.size() > static_cast<size_t>(page_size)) {
      out.set_next_page_token(HexEncode(out.pipelines(page_size - 1).name()));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Pipeline> PipelineManager::Update(const v1::UpdatePipelineRequest& request,
                                                     const Author& author) {
  RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  RETURN_IF_ERROR(CheckMessage(request.message()));
  const std::string& etag = request.pipeline().etag();
  if (etag.empty()) {
    return absl::InvalidArgumentError(
        "pipeline.etag: required; send the etag from GetPipeline (or use ApplyPipeline)");
  }
  if (absl::Status s = CheckDnsLabel(request.pipeline().name()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline.name: ", s.message()));
  }
  const std::string& name = request.pipeline().name();
  auto plan = [&](storage::Transaction& tx) -> std::optional<v1::Pipeline> {
    auto current = repo_.Get(tx, name);
    // A stale etag or an invalid spec: the write reports it.
    if (!current.ok() || current->etag() != etag) return std::nullopt;
    auto next = UpdatedSpec(*current, request.pipeline());
    if (!next.ok() || MessageDifferencer::Equals(SpecOf(*current), *next)) return std::nullopt;
    return *std::move(next);
  };
  std::map<std::string, std::string> urls;
  absl::StatusOr<v1::Pipeline> updated = absl::UnknownError("not stored");
  auto store = [&](const Author& by, const WrittenBack* written) -> absl::Status {
    updated = storage::WriteOnce<v1::Pipeline>(
        *db_, "UpdatePipeline", request.request_id(), request, NowMs(),
        [&](storage::Transaction& tx) -> absl::StatusOr<v1::Pipeline> {
          ASSIGN_OR_RETURN(v1::Pipeline current, repo_.Get(tx, name));
          if (current.etag() != etag) {
            return absl::AbortedError(absl::StrCat(
                "pipeline \"", current.name(), "\" was changed since it was read (etag \"", etag,
                "\" is stale, current revision ", current.revision(), "); get it again and retry"));
          }
          ASSIGN_OR_RETURN(v1::Pipeline next, UpdatedSpec(current, request.pipeline()));
          if (MessageDifferencer::Equals(SpecOf(current), next)) return Redacted(current);
          std::vector<std::string> changed = ChangedPaths(SpecOf(current), next);
          StampUpdate(current, next);
          RETURN_IF_ERROR(repo_.Update(tx, next, etag));
          RETURN_IF_ERROR(SyncWebhookTokens(tx, next, &urls));
          RETURN_IF_ERROR(RecordRevision(tx, next, by, request.message(), changed, false));
          if (written != nullptr) RETURN_IF_ERROR(write_back_->Committed(tx, name, *written));
          return Redacted(next);
        });
    Invalidate(name);
    return updated.status();
  };
  RETURN_IF_ERROR(StoreEdit(name, author, request.message(), plan, store));
  for (auto& [k, v] : urls) (*updated->mutable_new_webhook_urls())[k] = v;
  return updated;
}

absl::Status PipelineManager::Delete(const v1::DeletePipelineRequest& request,
                                     const Author& author) {
  RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  if (absl::Status s = CheckDnsLabel(request.name()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("name: ", s.message()));
  }
  absl::Status deleted =
      storage::WriteOnce<v1::DeletePipelineResponse>(
          *db_, "DeletePipeline", request.request_id(), request, NowMs(),
          [&](storage::Transaction& tx) -> absl::StatusOr<v1::DeletePipelineResponse> {
            ASSIGN_OR_RETURN(v1::Pipeline current, repo_.Get(tx, request.name()));
            RETURN_IF_ERROR(repo_.Delete(tx, request.name(), request.etag()));
            RETURN_IF_ERROR(RecordRevision(tx, current, author, "", {"-"}, true));
            if (write_back_ != nullptr) RETURN_IF_ERROR(write_back_->Unbind(tx, request.name()));
            v1::Pipeline gone;
            gone.set_name(request.name());
            std::map<std::string, std::string> none;
            RETURN_IF_ERROR(SyncWebhookTokens(tx, gone, &none));
            return v1::DeletePipelineResponse();
          })
          .status();
  Invalidate(request.name());
  return deleted;
}

absl::StatusOr<v1::ApplyPipelineResponse> PipelineManager::Apply(
    const v1::ApplyPipelineRequest& request, const Author& author) {
  RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  RETURN_IF_ERROR(CheckMessage(request.message()));
  if (absl::Status s = CheckDnsLabel(request.pipeline().name()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("name: ", s.message()));
  }
  if (request.dry_run()) return DryRunApply(request);
  auto plan = [&](storage::Transaction& tx) -> std::optional<v1::Pipeline> {
    auto planned = PlanApply(tx, request);
    if (!planned.ok() || planned->response.result() != v1::ApplyPipelineResponse::RESULT_UPDATED) {
      return std::nullopt;
    }
    return std::move(planned->next);
  };
  std::map<std::string, std::string> urls;
  absl::StatusOr<v1::ApplyPipelineResponse> applied = absl::UnknownError("not stored");
  auto store = [&](const Author& by, const WrittenBack* written) -> absl::Status {
    applied = storage::WriteOnce<v1::ApplyPipelineResponse>(
        *db_, "ApplyPipeline", request.request_id(), request, NowMs(),
        [&](storage::Transaction& tx) -> absl::StatusOr<v1::ApplyPipelineResponse> {
          ASSIGN_OR_RETURN(ApplyPlan plan, PlanApply(tx, request));
          v1::ApplyPipelineResponse& out = plan.response;
          v1::Pipeline& next = plan.next;
          switch (out.result()) {
            case v1::ApplyPipelineResponse::RESULT_CREATED:
              RETURN_IF_ERROR(StampNew(tx, next));
              RETURN_IF_ERROR(repo_.Insert(tx, next));
              break;
            case v1::ApplyPipelineResponse::RESULT_UNCHANGED:
              *out.mutable_pipeline() = Redacted(*std::move(plan.current));
              return out;
            default:
              StampUpdate(*plan.current, next);
              RETURN_IF_ERROR(repo_.Update(tx, next, plan.current->etag()));
              break;
          }
          RETURN_IF_ERROR(SyncWebhookTokens(tx, next, &urls));
          std::vector<std::string> changed(out.changed().begin(), out.changed().end());
          RETURN_IF_ERROR(RecordRevision(tx, next, by, request.message(), changed, false));
          if (written != nullptr)
            RETURN_IF_ERROR(write_back_->Committed(tx, next.name(), *written));
          *out.mutable_pipeline() = Redacted(std::move(next));
          return out;
        });
    Invalidate(request.pipeline().name());
    return applied.status();
  };
  RETURN_IF_ERROR(StoreEdit(request.pipeline().name(), author, request.message(), plan, store));
  for (auto& [k, v] : urls) (*applied->mutable_pipeline()->mutable_new_webhook_urls())[k] = v;
  return applied;
}

absl::StatusOr<PipelineManager::ApplyPlan> PipelineManager::PlanApply(
    storage::Transaction& tx, const v1::ApplyPipelineRequest& request) {
  ApplyPlan plan;
  plan.next = SpecOf(request.pipeline());
  auto current = repo_.Get(tx, plan.next.name());
  if (absl::IsNotFound(current.status())) {
    RETURN_IF_ERROR(ProblemsToStatus(pipeline::Validate(plan.next)));
    plan.response.set_result(v1::ApplyPipelineResponse::RESULT_CREATED);
    return plan;
  }
  if (!current.ok()) return current.status();
  plan.current = *std::move(current);
  RestoreRedactedSecrets(&plan.next, *plan.current);
  RETURN_IF_ERROR(ProblemsToStatus(pipeline::Validate(plan.next)));
  const v1::Pipeline before = SpecOf(*plan.current);
  if (MessageDifferencer::Equals(before, plan.next)) {
    plan.response.set_result(v1::ApplyPipelineResponse::RESULT_UNCHANGED);
    return plan;
  }
  for (std::string& path : ChangedPaths(before, plan.next)) {
    plan.response.add_changed(std::move(path));
  }
  AddFieldChanges(before, plan.next, plan.response.mutable_changes());
  plan.response.set_result(v1::ApplyPipelineResponse::RESULT_UPDATED);
  return plan;
}

absl::StatusOr<v1::ApplyPipelineResponse> PipelineManager::DryRunApply(
    const v1::ApplyPipelineRequest& request) {
  v1::ApplyPipelineResponse out;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(ApplyPlan plan, PlanApply(tx, request));
    out = std::move(plan.response);
    v1::Pipeline& next = plan.next;
    switch (out.result()) {
      case v1::ApplyPipelineResponse::RESULT_CREATED:
        AddFieldChanges(v1::Pipeline(), next, out.mutable_changes());
        break;
      case v1::ApplyPipelineResponse::RESULT_UNCHANGED:
        *out.mutable_pipeline() = Redacted(*std::move(plan.current));
        return absl::OkStatus();
      default:
        // As it would be stored, but with the stored metadata: nothing new was written.
        next.set_uid(plan.current->uid());
        next.set_etag(plan.current->etag());
        next.set_revision(plan.current->revision());
        *next.mutable_create_time() = plan.current->create_time();
        *next.mutable_update_time() = plan.current->update_time();
        break;
    }
    *out.mutable_pipeline() = Redacted(std::move(next));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListPipelineRevisionsResponse> PipelineManager::ListRevisions(
    const v1::ListPipelineRevisionsRequest& request) {
  RETURN_IF_ERROR(CheckPipelineField(request.pipeline()));
  ASSIGN_OR_RETURN(const int page_size, PageSize(request.page_size()));
  int64_t before = 0;
  if (!request.page_token().empty() &&
      (request.page_token().size() > 19 || !absl::SimpleAtoi(request.page_token(), &before) ||
       before <= 0)) {
    return absl::InvalidArgumentError(
        "page_token: not a token returned by ListPipelineRevisions; start again without it");
  }
  v1::ListPipelineRevisionsResponse out;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto items, revisions_.List(tx, request.pipeline(), before, page_size + 1));
    if (items.empty() && before == 0) {
      return absl::NotFoundError(
          absl::StrCat("pipeline \"", request.pipeline(), "\" has no revisions"));
    }
    for (size_t i = 0; i < items.size() && i < static_cast<size_t>(page_size); ++i) {
      *out.add_revisions() = std::move(items[i]);
    }
    if (items.size() > static_cast<size_t>(page_size)) {
      out.set_next_page_token(absl::StrCat(out.revisions(page_size - 1).revision()));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::PipelineRevision> PipelineManager::GetRevision(
    const v1::GetPipelineRevisionRequest& request) {
  RETURN_IF_ERROR(CheckPipelineField(request.pipeline()));
  if (request.revision() <= 0) return absl::InvalidArgumentError("revision: must be at least 1");
  v1::PipelineRevision out;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(out, revisions_.Get(tx, request.pipeline(), request.revision()));
    return absl::OkStatus();
  }));
  RedactSecrets(out.mutable_spec());
  return out;
}

absl::StatusOr<v1::DiffPipelineRevisionsResponse> PipelineManager::DiffRevisions(
    const v1::DiffPipelineRevisionsRequest& request) {
  RETURN_IF_ERROR(CheckPipelineField(request.pipeline()));
  if (request.from_revision() <= 0) {
    return absl::InvalidArgumentError("from_revision: must be at least 1");
  }
  if (request.to_revision() <= 0) {
    return absl::InvalidArgumentError("to_revision: must be at least 1");
  }
  v1::DiffPipelineRevisionsResponse out;
  out.set_from_revision(request.from_revision());
  out.set_to_revision(request.to_revision());
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto from, revisions_.Get(tx, request.pipeline(), request.from_revision()));
    ASSIGN_OR_RETURN(auto to, revisions_.Get(tx, request.pipeline(), request.to_revision()));
    AddFieldChanges(from.spec(), to.spec(), out.mutable_changes());
    return absl::OkStatus();
  }));
  return out;
}

v1::ValidatePipelineResponse PipelineManager::Validate(const v1::ValidatePipelineRequest& request) {
  v1::ValidatePipelineResponse out;
  v1::Pipeline spec = SpecOf(request.pipeline());
  // A spec read back with `get -o yaml` carries redacted secrets; judge it as Apply would.
  db_->Read([&](storage::Transaction& tx) -> absl::Status {
       auto current = repo_.Get(tx, spec.name());
       if (current.ok()) RestoreRedactedSecrets(&spec, *current);
       return absl::OkStatus();
     })
      .IgnoreError();
  for (const Problem& p : pipeline::Validate(spec)) {
    auto* problem = out.add_problems();
    problem->set_field(p.field);
    problem->set_message(p.message);
  }
  out.set_valid(out.problems_size() == 0);
  return out;
}

absl::Status PipelineManager::StoreEdit(
    const std::string& name, const Author& author, const std::string& message,
    const std::function<std::optional<v1::Pipeline>(storage::Transaction&)>& plan,
    const std::function<absl::Status(const Author&, const WrittenBack*)>& store) {
  std::optional<v1::Pipeline> next;
  if (write_back_ != nullptr) {
    RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(bool bound, write_back_->IsBound(tx, name));
      if (bound) next = plan(tx);
      return absl::OkStatus();
    }));
  }
  if (!next.has_value()) return store(author, nullptr);
  return write_back_->WriteBackThen(name, *next, author, message, [&](const WrittenBack& written) {
    Author by = author;
    by.git_sha = written.sha;
    return store(by, &written);
  });
}

absl::StatusOr<v1::ApplyPipelineResponse> PipelineManager::ApplyFromGit(
    v1::Pipeline spec, const Author& author, const std::string& message,
    const std::function<absl::Status(storage::Transaction&)>& also) {
  const std::string name = spec.name();
  RETURN_IF_ERROR(CheckMessage(message));
  v1::ApplyPipelineResponse out;
  std::map<std::string, std::string> urls;
  absl::Status stored = db_->Write([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(v1::Pipeline current, repo_.Get(tx, name));
    // What Slipway keeps for this instance of the file.
    *spec.mutable_argument_overrides() = current.argument_overrides();
    *spec.mutable_secret_argument_overrides() = current.secret_argument_overrides();
    v1::ApplyPipelineRequest request;
    *request.mutable_pipeline() = std::move(spec);
    ASSIGN_OR_RETURN(ApplyPlan plan, PlanApply(tx, request));
    out = std::move(plan.response);
    if (out.result() == v1::ApplyPipelineResponse::RESULT_UPDATED) {
      v1::Pipeline& next = plan.next;
      StampUpdate(*plan.current, next);
      RETURN_IF_ERROR(repo_.Update(tx, next, plan.current->etag()));
      RETURN_IF_ERROR(SyncWebhookTokens(tx, next, &urls));
      std::vector<std::string> changed(out.changed().begin(), out.changed().end());
      RETURN_IF_ERROR(RecordRevision(tx, next, author, message, changed, false));
      *out.mutable_pipeline() = Redacted(std::move(next));
    } else {
      *out.mutable_pipeline() = Redacted(*std::move(plan.current));
    }
    return also(tx);
  });
  Invalidate(name);
  RETURN_IF_ERROR(stored);
  return out;
}

}  // namespace slipway::pipeline
