// Webhook intake: a Git host's delivery in, an honest HTTP status out. Verifies the signature of
// every pipeline source that binds the repository, deduplicates by the provider's delivery id,
// matches stage triggers (Git rules), starts the runs, and records the delivery with what it
// matched and started. A 2xx means the runs and the delivery record are committed.
#ifndef SLIPWAY_TRIGGER_INTAKE_H_
#define SLIPWAY_TRIGGER_INTAKE_H_

#include <atomic>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/random.h"
#include "preview/preview_manager.h"
#include "release/executor.h"
#include "slipway/v1/delivery.pb.h"
#include "storage/audit_log.h"
#include "storage/database.h"
#include "trigger/providers.h"
#include "trigger/rate_limit.h"

namespace slipway::trigger {

struct IntakeResult {
  // 200 runs started or ping or duplicate; 202 nothing to start (no match, skipped, held, an
  // event Slipway does not handle); 400 malformed; 401 bad or missing signature; 404 no
  // pipeline binds the repository; 503 the store cannot write now (nothing was committed, and
  // the delivery names no run).
  int status = 500;
  std::string message;
  v1::Delivery delivery;
};

// What a push to a pipeline's bound Git file did (gitops/): a note for the delivery, and
// whether it changed the stored pipeline.
struct PushOutcome {
  std::string note;  // empty: the push does not concern a bound file
  bool changed = false;
};

// Sees every push a trusted delivery (or a poll) carries to a pipeline's source before the
// pipeline's triggers are matched, so that a push that changes the pipeline's own file runs the
// flows of the new spec. Thread-safe in every implementation.
class PushHook {
 public:
  virtual ~PushHook() = default;
  virtual PushOutcome OnPush(const v1::Pipeline& pipeline, const v1::Source& source,
                             const v1::SourceEvent& event) = 0;
};

// Thread-safe. Does not own its collaborators.
class WebhookIntake {
 public:
  // `previews` may be null (pull-request events are then only recorded); so may `audit` (the
  // runs and preview actions deliveries start are then not in the audit trail).
  WebhookIntake(storage::Database* db, release::Executor* executor, const Clock* clock,
                IdGenerator* ids, preview::PreviewManager* previews = nullptr,
                storage::AuditLog* audit = nullptr)
      : db_(db),
        executor_(executor),
        clock_(clock),
        ids_(ids),
        previews_(previews),
        audit_(audit) {}

  // Set once, before serving; may stay null.
  void SetPushHook(PushHook* hook) { push_hook_ = hook; }

  // `client` is the sender's address: rejected deliveries are recorded at most at a rate per
  // client (past it they are only counted, UnrecordedRejections). Every delivery is logged in
  // one line without secrets or body; rejections at a bounded rate.
  IntakeResult Handle(v1::Provider provider, const Headers& headers, std::string_view body,
                      std::string_view client = "");

  // A generic webhook trigger: POST /hooks/t/<token>. 404 for an unknown token; 401 when the
  // trigger has an HMAC secret and X-Slipway-Signature-256 does not match; 400 for a body that
  // is neither empty nor a JSON object. Query parameters and top-level JSON values become run
  // arguments ("branch" and "sha" go to the trigger instead). X-Request-Id or X-Slipway-Delivery
  // deduplicates.
  IntakeResult HandleGeneric(std::string_view token, const Headers& headers,
                             const std::map<std::string, std::string>& query, std::string_view body,
                             std::string_view client = "");

  // Handles an event that did not come over HTTP (repository polling) like an accepted,
  // trusted delivery of `pipelines`: matches triggers, starts runs, records the delivery.
  IntakeResult HandleEvent(const v1::SourceEvent& event, const std::string& delivery_id,
                           const std::vector<v1::Pipeline>& pipelines);

  // Matches the stored event of an accepted delivery again and records a new delivery.
  // NOT_FOUND for an unknown id; FAILED_PRECONDITION if that delivery was rejected.
  absl::StatusOr<v1::Delivery> Redeliver(const std::string& id);

  // Newest first. With `pipeline`, the deliveries that matched it and those for its sources'
  // repositories that matched nothing. A stored record that cannot be decoded is left out with
  // a log line.
  absl::StatusOr<std::vector<v1::Delivery>> List(const std::string& pipeline, int limit);
  // Rejected deliveries not recorded because their client passed the rate, since start.
  int64_t UnrecordedRejections() const { return unrecorded_.load(); }
  absl::StatusOr<v1::Delivery> Get(const std::string& id);

 private:
  // Starts what the event's trusted pipelines trigger and finishes the delivery record.
  // `holds`: every stage hold, read with the pipelines (null: each start reads its stage's).
  IntakeResult Dispatch(v1::Delivery d, const std::vector<v1::Pipeline>& pipelines,
                        const std::vector<v1::StageHold>* holds = nullptr);
  IntakeResult Finish(v1::Delivery delivery, int status, std::string message);
  IntakeResult StoreFailed(v1::Delivery delivery, const absl::Status& why);
  IntakeResult HandleVerified(v1::Provider provider, const Headers& headers, std::string_view body,
                              std::string_view client);
  IntakeResult HandleGenericVerified(std::string_view token, const Headers& headers,
                                     const std::map<std::string, std::string>& query,
                                     std::string_view body, std::string_view client);
  void Log(const IntakeResult& result, std::string_view client);

  storage::Database* db_;
  release::Executor* executor_;
  const Clock* clock_;
  IdGenerator* ids_;
  // An audit record of `action` done for delivery `d`.
  v1::AuditRecord TriggerRecord(const v1::Delivery& d, const std::string& action,
                                const std::string& target, const absl::Status& outcome) const;

  preview::PreviewManager* previews_;
  storage::AuditLog* audit_;
  PushHook* push_hook_ = nullptr;
  // 60 rejected deliveries recorded per client address at once, then one a second.
  KeyedRateLimiter rejections_{60, absl::Seconds(1), 10000};
  // 20 rejection log lines per 10 seconds.
  WindowLimiter rejection_log_{20, absl::Seconds(10)};
  std::atomic<int64_t> unrecorded_{0};
};

// Delivery retention, the maintenance step's part for deliveries: deletes the records received
// more than `max_age` before the clock's now, and all but the newest `keep` (0: no bound by
// count). Returns how many were deleted; storage errors as they come.
absl::StatusOr<int64_t> PruneDeliveries(storage::Database& db, const Clock& clock,
                                        absl::Duration max_age, int64_t keep);

}  // namespace slipway::trigger

#endif  // SLIPWAY_TRIGGER_INTAKE_H_
