#include "trigger/intake.h"

#include <spdlog/spdlog.h>

#include <deque>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/error_reason.h"
#include "common/proto_time.h"
#include "common/proto_yaml.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "pipeline/secrets.h"
#include "storage/delivery_repository.h"
#include "storage/pipeline_repository.h"
#include "trigger/rules.h"
#include "trigger/scheduler.h"

namespace slipway::trigger {
namespace {

struct Binding {
  v1::Pipeline pipeline;
  const v1::Source* source;
};

std::string Lower(const std::string& s) { return absl::AsciiStrToLower(s); }

// The pipeline's source that binds `repository` of `provider` (names compare case-blind).
const v1::Source* BindingSource(const v1::Pipeline& pipeline, v1::Provider provider,
                                const std::string& repository) {
  for (const auto& src : pipeline.sources()) {
    if (src.provider() == provider && Lower(src.repository()) == Lower(repository)) return &src;
  }
  return nullptr;
}

// "branch main", "tag v1.2": which ref change of a delivery a match belongs to.
std::string RefName(const v1::SourceEvent& e) {
  return e.tag().empty() ? "branch " + e.branch() : "tag " + e.tag();
}

std::string EventName(v1::GitEventKind kind) {
  return EnumShortName(v1::GitEventKind_descriptor()->FindValueByNumber(kind));
}

}  // namespace

v1::AuditRecord WebhookIntake::TriggerRecord(const v1::Delivery& d, const std::string& action,
                                             const std::string& target,
                                             const absl::Status& outcome) const {
  v1::AuditRecord r;
  const bool polled = d.client() == "poll";
  r.set_actor_kind(polled ? v1::ACTOR_KIND_POLL : v1::ACTOR_KIND_WEBHOOK);
  if (polled) {
    r.set_actor(absl::StrCat("poll:", d.event().repository()));
  } else {
    const auto* provider = v1::Provider_descriptor()->FindValueByNumber(d.provider());
    r.set_actor(absl::StrCat("webhook:",
                             d.provider() == v1::PROVIDER_UNSPECIFIED || provider == nullptr
                                 ? "generic"
                                 : EnumShortName(provider),
                             d.delivery_id().empty() ? "" : ":", d.delivery_id().substr(0, 128)));
  }
  r.set_action(absl::StrCat(polled ? "poll/" : "webhook/", action));
  r.set_target(target);
  r.set_request_id(d.id());
  if (!polled) r.set_source_address(d.client());
  r.set_outcome(storage::OutcomeOf(outcome));
  return r;
}

IntakeResult WebhookIntake::Finish(v1::Delivery delivery, int status, std::string message) {
  delivery.set_status(status);
  delivery.set_message(message);
  if (status >= 400 && !rejections_.Allow(delivery.client(), clock_->Now())) {
    // This client is past the rate of rejected deliveries that are recorded: counted only, so
    // a flood of bad requests cannot fill the disk.
    unrecorded_.fetch_add(1, std::memory_order_relaxed);
    delivery.clear_id();  // there is no record to point at
    return {status, std::move(message), std::move(delivery)};
  }
  const bool claims = status < 300 && !delivery.duplicate();
  absl::Status s = db_->Write([&](storage::Transaction& tx) {
    return storage::DeliveryRepository().Insert(tx, delivery, claims);
  });
  if (absl::IsAlreadyExists(s)) {
    // Another copy of this delivery claimed the id first; this copy started nothing (its runs,
    // if any, were in the transaction that failed).
    delivery.set_duplicate(true);
    delivery.set_id("dlv-" + ids_->OrderedHex());
    status = 200;
    message = "duplicate delivery";
    delivery.set_status(status);
    delivery.set_message(message);
    s = db_->Write([&](storage::Transaction& tx) {
      return storage::DeliveryRepository().Insert(tx, delivery, /*claims_id=*/false);
    });
  }
  if (!s.ok()) return StoreFailed(std::move(delivery), s);
  return {status, std::move(message), std::move(delivery)};
}

IntakeResult WebhookIntake::StoreFailed(v1::Delivery delivery, const absl::Status& why) {
  // Nothing of this delivery was committed: it names no run, and the host is asked to retry.
  for (auto& m : *delivery.mutable_matches()) m.clear_run_id();
  delivery.set_status(503);
  delivery.set_message(
      absl::StrCat("the store cannot take deliveries now (", why.message(), "); retry later"));
  return {503, delivery.message(), std::move(delivery)};
}

void WebhookIntake::Log(const IntakeResult& r, std::string_view client) {
  const v1::Delivery& d = r.delivery;
  int runs = 0;
  for (const auto& m : d.matches()) runs += m.run_id().empty() ? 0 : 1;
  std::string line = absl::StrCat(
      "delivery ", d.id().empty() ? "-" : d.id(),
      " provider=", EnumShortName(v1::Provider_descriptor()->FindValueByNumber(d.provider())),
      " event=\"", SanitizeText(d.event().event(), 64), "\" id=\"",
      SanitizeText(d.delivery_id(), 80), "\" client=", SanitizeText(client, 64),
      " status=", r.status, " verdict=",
      EnumShortName(v1::SignatureVerdict_descriptor()->FindValueByNumber(d.signature())),
      " runs=", runs, " reason=\"", SanitizeText(r.message, 200), "\"");
  if (r.status < 400) {
    spdlog::info("{}", line);
    return;
  }
  // Rejections are logged at a bounded rate; the rest are summed up once the window turns.
  int64_t dropped = 0;
  bool log = rejection_log_.Allow(clock_->Now(), &dropped);
  if (dropped > 0) spdlog::warn("{} more rejected deliveries were not logged", dropped);
  if (log) spdlog::warn("{}", line);
}

IntakeResult WebhookIntake::Handle(v1::Provider provider, const Headers& headers,
                                   std::string_view body, std::string_view client) {
  IntakeResult r = HandleVerified(provider, headers, body, client);
  Log(r, client);
  return r;
}

IntakeResult WebhookIntake::HandleVerified(v1::Provider provider, const Headers& headers,
                                           std::string_view body, std::string_view client) {
  v1::Delivery d;
  d.set_id("dlv-" + ids_->OrderedHex());
  d.set_client(SanitizeText(client, 64));
  d.set_provider(provider);
  d.set_delivery_id(DeliveryId(provider, headers, body));
  *d.mutable_receive_time() = ProtoTime(clock_->Now());
  for (const auto& [k, v] : RedactHeaders(headers)) (*d.mutable_headers())[k] = v;
  d.set_body_bytes(static_cast<int64_t>(body.size()));

  // Until the signature holds, only what finds the binding is read from the body, and only
  // that (the event header and the repository) is recorded.
  auto binding = ParseBinding(provider, headers, body);
  if (!binding.ok()) return Finish(std::move(d), 400, std::string(binding.status().message()));
  v1::SourceEvent* claimed = d.mutable_event();
  claimed->set_provider(provider);
  claimed->set_kind(binding->kind());
  claimed->set_event(SanitizeText(binding->event(), 100));
  claimed->set_repository(SanitizeText(binding->repository(), 300));
  const std::string repository = binding->repository();

  // Every pipeline source that binds this repository, found by index.
  std::vector<Binding> bindings;
  std::optional<v1::Delivery> original;
  std::vector<v1::StageHold> holds;  // for the stages it may start (Dispatch)
  absl::Status read = db_->Read([&](storage::Transaction& tx) -> absl::Status {
    // The three reads in one round trip (each sent ahead of the next).
    auto bound = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(auto found, storage::PipelinesBoundTo(tx, provider, repository));
      for (auto& p : found) {
        if (p.ok()) bindings.push_back({*std::move(p), nullptr});
      }
      return absl::OkStatus();
    };
    auto holds_and_bound = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(holds, storage::StageHoldRepository().List(tx, bound));
      return absl::OkStatus();
    };
    ASSIGN_OR_RETURN(original, storage::DeliveryRepository().FindOriginal(
                                   tx, provider, d.delivery_id(), holds_and_bound));
    return absl::OkStatus();
  });
  if (!read.ok()) return StoreFailed(std::move(d), read);
  for (auto& b : bindings) b.source = BindingSource(b.pipeline, provider, repository);
  if (binding->kind() == v1::GIT_EVENT_KIND_PING) return Finish(std::move(d), 200, "pong");
  if (bindings.empty()) {
    return Finish(std::move(d), 404,
                  absl::StrCat("no pipeline binds repository \"", claimed->repository(), "\""));
  }

  // Only bindings whose signature holds take part; a binding without a secret accepts
  // unsigned deliveries.
  std::vector<Binding*> trusted;
  v1::SignatureVerdict worst = v1::SIGNATURE_VERDICT_NOT_REQUIRED;
  for (auto& b : bindings) {
    std::string secret;
    if (b.source->has_webhook_secret()) {
      auto s = pipeline::ResolveSecret(b.source->webhook_secret());
      if (!s.ok()) {
        worst = v1::SIGNATURE_VERDICT_INVALID;
        continue;  // a binding whose secret cannot be read trusts nothing
      }
      secret = *s;
    }
    v1::SignatureVerdict v = VerifySignature(provider, headers, body, secret);
    if (v == v1::SIGNATURE_VERDICT_VALID || v == v1::SIGNATURE_VERDICT_NOT_REQUIRED) {
      trusted.push_back(&b);
      if (v == v1::SIGNATURE_VERDICT_VALID) d.set_signature(v);
    } else {
      worst = v;
    }
  }
  if (d.signature() == v1::SIGNATURE_VERDICT_UNSPECIFIED) d.set_signature(worst);
  if (trusted.empty()) {
    return Finish(
        std::move(d), 401,
        worst == v1::SIGNATURE_VERDICT_MISSING ? "signature missing" : "signature does not match");
  }

  // A delivery id is acted on once (looked up with the bindings, used once trusted).
  if (original.has_value()) {
    d.set_duplicate(true);
    return Finish(std::move(d), 200, absl::StrCat("duplicate of delivery ", original->id()));
  }

  // Verified: now the whole body is read.
  auto event = ParseDelivery(provider, headers, body);
  if (!event.ok()) return Finish(std::move(d), 400, std::string(event.status().message()));
  *d.mutable_event() = *event;
  if (event->kind() == v1::GIT_EVENT_KIND_OTHER) {
    return Finish(std::move(d), 202,
                  absl::StrCat("event `", SanitizeText(event->event(), 100), "` is not handled"));
  }

  std::vector<v1::Pipeline> pipelines;
  pipelines.reserve(trusted.size());
  for (Binding* b : trusted) pipelines.push_back(b->pipeline);
  return Dispatch(std::move(d), pipelines, &holds);
}

IntakeResult WebhookIntake::Dispatch(v1::Delivery d, const std::vector<v1::Pipeline>& trusted,
                                     const std::vector<v1::StageHold>* holds) {
  const v1::Provider provider = d.provider();
  // The delivery's event and any further ref changes it carries, each matched on its own.
  // Adding matches to `d` leaves its event where it is.
  std::vector<const v1::SourceEvent*> events = {&d.event()};
  for (const auto& more : d.event().more_refs()) events.push_back(&more);
  // Pipelines kept in Git first: a push that changes a pipeline's file applies it, and the
  // triggers below then match the new spec.
  // Pointers, so that only a pipeline a sync changed is copied (read again from the store).
  std::vector<const v1::Pipeline*> pipelines;
  pipelines.reserve(trusted.size());
  for (const v1::Pipeline& p : trusted) pipelines.push_back(&p);
  std::deque<v1::Pipeline> synced_specs;
  if (push_hook_ != nullptr) {
    for (const v1::SourceEvent* event : events) {
      if (event->kind() != v1::GIT_EVENT_KIND_PUSH) continue;
      for (const v1::Pipeline*& pipeline : pipelines) {
        const v1::Source* source = BindingSource(*pipeline, provider, event->repository());
        if (source == nullptr) continue;
        PushOutcome outcome = push_hook_->OnPush(*pipeline, *source, *event);
        if (outcome.note.empty()) continue;
        v1::DeliveryMatch* m = d.add_matches();
        m->set_pipeline(pipeline->name());
        m->set_gitops(std::move(outcome.note));
        if (events.size() > 1) m->set_ref(RefName(*event));
        if (!outcome.changed) continue;
        v1::Pipeline& now = synced_specs.emplace_back();
        absl::Status reread = db_->Read([&](storage::Transaction& tx) -> absl::Status {
          ASSIGN_OR_RETURN(now, storage::PipelineRepository().Get(tx, pipeline->name()));
          return absl::OkStatus();
        });
        if (!reread.ok()) return StoreFailed(std::move(d), reread);
        pipeline = &now;
      }
    }
  }
  const int synced = static_cast<int>(synced_specs.size());
  // A pipeline file applied from Git took its time (a fetch): the holds are read again then.
  if (synced > 0) holds = nullptr;
  std::vector<std::pair<release::StartRequest, std::string>> starts;
  std::vector<int> start_matches;  // the match each start belongs to
  int previews_acted = 0;
  for (const v1::SourceEvent* event : events) {
    for (const v1::Pipeline* listed : pipelines) {
      const v1::Pipeline& pipeline = *listed;
      const v1::Source* source = BindingSource(pipeline, provider, event->repository());
      if (source == nullptr) continue;
      for (const auto& stage : pipeline.stages()) {
        for (const auto& trig : stage.triggers()) {
          if (!trig.has_git() || trig.git().source() != source->name()) continue;
          RuleResult rule = MatchGitTrigger(trig.git(), *event);
          if (!rule.matched) continue;
          v1::DeliveryMatch* m = d.add_matches();
          m->set_pipeline(pipeline.name());
          m->set_stage(stage.name());
          if (events.size() > 1) m->set_ref(RefName(*event));
          if (rule.skipped) {
            m->set_skipped(rule.reason);
            continue;
          }
          if (auto frozen = ActiveFreeze(stage, clock_->Now()); frozen.has_value()) {
            m->set_skipped(absl::StrCat("stage frozen: ", *frozen));
            continue;
          }
          release::StartRequest start;
          start.pipeline = pipeline;
          start.stage = stage.name();
          if (holds != nullptr) {
            start.hold.emplace();
            for (const v1::StageHold& h : *holds) {
              if (h.pipeline() == pipeline.name() && h.stage() == stage.name()) start.hold = h;
            }
          }
          start.args.insert(trig.git().args().begin(), trig.git().args().end());
          v1::TriggerInfo& info = start.trigger;
          info.set_event(EventName(event->kind()));
          info.set_source(source->name());
          info.set_branch(event->branch());
          info.set_tag(event->tag());
          info.set_sha(event->sha());
          if (event->has_pull_request() && event->pull_request().number() > 0) {
            info.set_pull_request(absl::StrCat(event->pull_request().number()));
          }
          info.set_actor(event->sender());
          info.set_delivery(d.delivery_id());
          // No request id: the runs and the delivery record that claims the delivery id are
          // committed together, so a retried delivery finds either both (a duplicate) or
          // neither (and starts the runs itself).
          starts.emplace_back(std::move(start), std::string());
          start_matches.push_back(d.matches_size() - 1);
        }
      }
      if (previews_ != nullptr) {
        // Preview environments: created, updated or torn down (committed) before the answer.
        for (auto& m : previews_->HandleEvent(pipeline, *source, *event, "delivery " + d.id())) {
          if (!m.preview_action().empty()) ++previews_acted;
          if (events.size() > 1) m.set_ref(RefName(*event));
          *d.add_matches() = std::move(m);
        }
      }
    }
  }
  if (audit_ != nullptr) {
    // Preview actions are committed by the preview manager before this point.
    for (const auto& m : d.matches()) {
      if (m.preview_action().empty()) continue;
      audit_
          ->Record(TriggerRecord(d, absl::StrCat("Preview/", m.preview_action()),
                                 absl::StrCat(m.pipeline(), "/", m.preview()), absl::OkStatus()))
          .IgnoreError();  // logged by Record
    }
  }
  if (starts.empty()) {
    if (previews_acted > 0 || synced > 0) {
      std::vector<std::string> done;
      if (synced > 0) done.push_back(absl::StrCat("applied ", synced, " pipeline file(s)"));
      if (previews_acted > 0)
        done.push_back(absl::StrCat("changed ", previews_acted, " preview(s)"));
      return Finish(std::move(d), 200, absl::StrJoin(done, "; "));
    }
    // Read before `d` is moved: argument evaluation order is unspecified.
    std::string why = d.matches_size() == 0 ? "no trigger matches" : "matched, nothing started";
    return Finish(std::move(d), 202, std::move(why));
  }
  // The runs and the delivery record are committed in one transaction: one fsync, shared with
  // concurrent deliveries.
  int status = 202;
  std::string message;
  auto result = executor_->StartAll(
      starts,
      [&](storage::Transaction& tx,
          const std::vector<absl::StatusOr<v1::Run>>& runs) -> absl::Status {
        int started = 0;
        for (size_t i = 0; i < runs.size(); ++i) {
          v1::DeliveryMatch* m = d.mutable_matches(start_matches[i]);
          if (runs[i].ok()) {
            m->set_run_id(runs[i]->id());
            ++started;
          } else if (ReasonOf(runs[i].status()) == ErrorReason::kStageHeld) {
            m->set_skipped("stage held");
          } else {
            m->set_skipped(std::string(runs[i].status().message()));
          }
        }
        status = started + previews_acted > 0 ? 200 : 202;
        message =
            started > 0 ? absl::StrCat("started ", started, " run(s)") : "matched, nothing started";
        if (previews_acted > 0) {
          message += absl::StrCat("; changed ", previews_acted, " preview(s)");
        }
        d.set_status(status);
        d.set_message(message);
        RETURN_IF_ERROR(storage::DeliveryRepository().Insert(tx, d, /*claims_id=*/status < 300));
        // In the same transaction: a run a delivery started is never without its record.
        if (audit_ != nullptr) {
          for (size_t i = 0; i < runs.size(); ++i) {
            const v1::DeliveryMatch& m = d.matches(start_matches[i]);
            RETURN_IF_ERROR(audit_->Append(
                tx, TriggerRecord(d, "StartRun", absl::StrCat(m.pipeline(), "/", m.stage()),
                                  runs[i].status())));
          }
        }
        return absl::OkStatus();
      });
  if (result.committed.ok()) return {status, std::move(message), std::move(d)};
  if (absl::IsAlreadyExists(result.committed)) {
    // Another copy of this delivery claimed the id first; this copy's runs were not stored.
    for (auto& m : *d.mutable_matches()) m.clear_run_id();
    return Finish(std::move(d), status, message);
  }
  return StoreFailed(std::move(d), result.committed);
}

IntakeResult WebhookIntake::HandleGeneric(std::string_view token, const Headers& headers,
                                          const std::map<std::string, std::string>& query,
                                          std::string_view body, std::string_view client) {
  IntakeResult r = HandleGenericVerified(token, headers, query, body, client);
  Log(r, client);
  return r;
}

IntakeResult WebhookIntake::HandleGenericVerified(std::string_view token, const Headers& headers,
                                                  const std::map<std::string, std::string>& query,
                                                  std::string_view body, std::string_view client) {
  v1::Delivery d;
  d.set_client(SanitizeText(client, 64));
  d.set_id("dlv-" + ids_->OrderedHex());
  d.set_provider(v1::PROVIDER_UNSPECIFIED);
  *d.mutable_receive_time() = ProtoTime(clock_->Now());
  for (const auto& [k, v] : RedactHeaders(headers)) (*d.mutable_headers())[k] = v;
  d.set_body_bytes(static_cast<int64_t>(body.size()));
  d.mutable_event()->set_event("webhook");
  auto header = [&](const char* name) {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  };
  std::string request = header("x-request-id");
  if (request.empty()) request = header("x-slipway-delivery");
  request = SanitizeText(request, 200);
  // Without a request id every call is its own delivery.
  d.set_delivery_id(request.empty() ? "generic:" + d.id() : request);

  std::optional<std::pair<std::string, std::string>> owner;
  std::optional<v1::Pipeline> pipeline;
  absl::Status read = db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(owner, storage::WebhookTokenRepository().Find(tx, Sha256(token)));
    if (owner.has_value()) {
      auto p = storage::PipelineRepository().Get(tx, owner->first);
      if (p.ok()) pipeline = *p;
    }
    return absl::OkStatus();
  });
  if (!read.ok()) return StoreFailed(std::move(d), read);
  const v1::WebhookTrigger* trig = nullptr;
  if (pipeline.has_value()) {
    for (const auto& w : pipeline->webhook_triggers()) {
      if (w.name() == owner->second) trig = &w;
    }
  }
  if (trig == nullptr) {
    // Not recorded: an unknown token must not let anyone fill the delivery log.
    d.clear_id();
    return {404, "unknown webhook token", d};
  }
  d.mutable_event()->set_sender("webhook:" + trig->name());
  if (trig->has_hmac_secret()) {
    auto secret = pipeline::ResolveSecret(trig->hmac_secret());
    std::string given = absl::AsciiStrToLower(header("x-slipway-signature-256"));
    if (!secret.ok()) return Finish(std::move(d), 401, "the trigger's secret cannot be read");
    if (given.empty()) {
      d.set_signature(v1::SIGNATURE_VERDICT_MISSING);
      return Finish(std::move(d), 401, "signature missing");
    }
    if (!ConstantTimeEquals(given, "sha256=" + HmacSha256Hex(*secret, body))) {
      d.set_signature(v1::SIGNATURE_VERDICT_INVALID);
      return Finish(std::move(d), 401, "signature does not match");
    }
    d.set_signature(v1::SIGNATURE_VERDICT_VALID);
  } else {
    d.set_signature(v1::SIGNATURE_VERDICT_NOT_REQUIRED);
  }
  for (const auto& [k, v] : query) {
    if (!IsValidUtf8(k) || !IsValidUtf8(v)) {
      return Finish(std::move(d), 400,
                    absl::StrCat("query parameter \"", SanitizeText(k, 64), "\": not valid UTF-8"));
    }
  }
  std::map<std::string, std::string> args = query;
  if (!body.empty()) {
    auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Finish(std::move(d), 400, "body is not a JSON object");
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it->is_string())
        args[it.key()] = it->get<std::string>();
      else if (it->is_number() || it->is_boolean())
        args[it.key()] = it->dump();
    }
  }
  release::StartRequest start;
  start.pipeline = *pipeline;
  start.stage = trig->stage();
  start.trigger.set_event("webhook");
  start.trigger.set_source(trig->name());
  start.trigger.set_actor("webhook:" + trig->name());
  if (auto it = args.find("branch"); it != args.end()) {
    start.trigger.set_branch(it->second);
    args.erase(it);
  }
  if (auto it = args.find("sha"); it != args.end()) {
    start.trigger.set_sha(it->second);
    args.erase(it);
  }
  start.trigger.set_delivery(d.delivery_id());
  start.args = std::move(args);
  *d.mutable_event()->mutable_branch() = start.trigger.branch();
  *d.mutable_event()->mutable_sha() = start.trigger.sha();
  v1::DeliveryMatch* m = d.add_matches();
  m->set_pipeline(pipeline->name());
  m->set_stage(trig->stage());
  for (const auto& stage : pipeline->stages()) {
    if (stage.name() != trig->stage()) continue;
    if (auto frozen = ActiveFreeze(stage, clock_->Now()); frozen.has_value()) {
      m->set_skipped(absl::StrCat("stage frozen: ", *frozen));
      return Finish(std::move(d), 202, m->skipped());
    }
  }
  std::string request_id =
      request.empty() ? ""
                      : absl::StrCat("webhook:", pipeline->name(), "/", trig->name(), ":", request);
  auto run = executor_->Start(start, request_id);
  if (!run.ok()) {
    if (ReasonOf(run.status()) == ErrorReason::kStageHeld) {
      m->set_skipped("stage held");
      return Finish(std::move(d), 202, "stage held");
    }
    m->set_skipped(std::string(run.status().message()));
    int status = run.status().code() == absl::StatusCode::kInvalidArgument ? 400 : 409;
    return Finish(std::move(d), status, std::string(run.status().message()));
  }
  m->set_run_id(run->id());
  if (audit_ != nullptr) {
    audit_
        ->Record(TriggerRecord(d, "StartRun", absl::StrCat(m->pipeline(), "/", m->stage()),
                               absl::OkStatus()))
        .IgnoreError();  // logged by Record
  }
  // A repeated request id got the first run back; Finish records it as a duplicate.
  return Finish(std::move(d), 200, "started 1 run(s)");
}

IntakeResult WebhookIntake::HandleEvent(const v1::SourceEvent& event,
                                        const std::string& delivery_id,
                                        const std::vector<v1::Pipeline>& pipelines) {
  v1::Delivery d;
  d.set_id("dlv-" + ids_->OrderedHex());
  d.set_provider(event.provider());
  d.set_delivery_id(delivery_id);
  *d.mutable_receive_time() = ProtoTime(clock_->Now());
  d.set_signature(v1::SIGNATURE_VERDICT_NOT_REQUIRED);
  d.set_client("poll");
  *d.mutable_event() = event;
  IntakeResult r = Dispatch(std::move(d), pipelines);
  Log(r, "poll");
  return r;
}

absl::StatusOr<v1::Delivery> WebhookIntake::Get(const std::string& id) {
  v1::Delivery d;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(d, storage::DeliveryRepository().Get(tx, id));
    return absl::OkStatus();
  }));
  return d;
}

absl::StatusOr<std::vector<v1::Delivery>> WebhookIntake::List(const std::string& pipeline,
                                                              int limit) {
  std::vector<v1::Delivery> out;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    // A pipeline's deliveries include those for its repositories that matched nothing.
    std::vector<std::string> repositories;
    if (!pipeline.empty()) {
      auto p = storage::PipelineRepository().Get(tx, pipeline);
      if (p.ok()) {
        for (const auto& src : p->sources()) {
          repositories.push_back(storage::DeliveryRepositoryKey(src.provider(), src.repository()));
        }
      }
    }
    ASSIGN_OR_RETURN(storage::DeliveryPage page,
                     storage::DeliveryRepository().List(tx, pipeline, repositories, limit));
    for (const auto& skipped : page.undecodable) {
      spdlog::warn("delivery {} is stored but cannot be decoded; it is left out of the list",
                   skipped);
    }
    out = std::move(page.deliveries);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Delivery> WebhookIntake::Redeliver(const std::string& id) {
  ASSIGN_OR_RETURN(v1::Delivery old, Get(id));
  if (old.status() >= 300 || !old.has_event()) {
    return absl::FailedPreconditionError(
        absl::StrCat("delivery ", id, " was rejected (", old.status(), " ", old.message(),
                     "); only accepted deliveries can be redelivered"));
  }
  v1::Delivery d;
  d.set_id("dlv-" + ids_->OrderedHex());
  d.set_provider(old.provider());
  d.set_delivery_id(old.delivery_id() + "#redelivery-" + ids_->RandomHex(4));
  *d.mutable_receive_time() = ProtoTime(clock_->Now());
  *d.mutable_headers() = old.headers();
  d.set_body_bytes(old.body_bytes());
  d.set_signature(old.signature());
  *d.mutable_event() = old.event();
  std::vector<v1::Pipeline> pipelines;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    std::set<std::string> names;
    for (const auto& m : old.matches()) names.insert(m.pipeline());
    for (const auto& name : names) {
      auto p = storage::PipelineRepository().Get(tx, name);
      if (p.ok()) pipelines.push_back(*p);
    }
    return absl::OkStatus();
  }));
  IntakeResult r = Dispatch(std::move(d), pipelines);
  if (r.status >= 500) return absl::InternalError(r.message);
  return r.delivery;
}

absl::StatusOr<int64_t> PruneDeliveries(storage::Database& db, const Clock& clock,
                                        absl::Duration max_age, int64_t keep) {
  const storage::DeliveryRetention retention{.older_than = clock.Now() - max_age, .keep = keep};
  int64_t deleted = 0;
  RETURN_IF_ERROR(db.Write([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(deleted, storage::DeliveryRepository().Prune(tx, retention));
    return absl::OkStatus();
  }));
  return deleted;
}

}  // namespace slipway::trigger
