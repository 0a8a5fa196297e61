// Webhook intake: a Git host's delivery in, an honest HTTP status out. Verifies the signature of
// every pipeline source that binds the repository, deduplicates by the provider's delivery id,
// matches stage triggers (Git rules), starts the runs, and records the delivery with what it
// matched and started. A 2xx means the runs and the delivery record are committed.
#ifndef SLIPWAY_TRIGGER_INTAKE_H_
#define SLIPWAY_TRIGGER_INTAKE_H_

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/random.h"
#include "preview/preview_manager.h"
#include "release/executor.h"
#include "slipway/v1/delivery.pb.h"
#include "storage/database.h"
#include "trigger/providers.h"

namespace slipway::trigger {

struct IntakeResult {
  // 200 runs started or ping or duplicate; 202 nothing to start (no match, skipped, held);
  // 400 malformed; 401 bad or missing signature; 404 no pipeline binds the repository;
  // 500 the delivery could not be stored.
  int status = 500;
  std::string message;
  v1::Delivery delivery;
};

// Thread-safe. Does not own its collaborators.
class WebhookIntake {
 public:
  // `previews` may be null (pull-request events are then only recorded).
  WebhookIntake(storage::Database* db, release::Executor* executor, const Clock* clock,
                IdGenerator* ids, preview::PreviewManager* previews = nullptr)
      : db_(db), executor_(executor), clock_(clock), ids_(ids), previews_(previews) {}

  IntakeResult Handle(v1::Provider provider, const Headers& headers, std::string_view body);

  // A generic webhook trigger: POST /hooks/t/<token>. 404 for an unknown token; 401 when the
  // trigger has an HMAC secret and X-Slipway-Signature-256 does not match; 400 for a body that
  // is neither empty nor a JSON object. Query parameters and top-level JSON values become run
  // arguments ("branch" and "sha" go to the trigger instead). X-Request-Id or X-Slipway-Delivery
  // deduplicates.
  IntakeResult HandleGeneric(std::string_view token, const Headers& headers,
                             const std::map<std::string, std::string>& query,
                             std::string_view body);

  // Handles an event that did not come over HTTP (repository polling) like an accepted,
  // trusted delivery of `pipelines`: matches triggers, starts runs, records the delivery.
  IntakeResult HandleEvent(const v1::SourceEvent& event, const std::string& delivery_id,
                           const std::vector<v1::Pipeline>& pipelines);

  // Matches the stored event of an accepted delivery again and records a new delivery.
  // NOT_FOUND for an unknown id; FAILED_PRECONDITION if that delivery was rejected.
  absl::StatusOr<v1::Delivery> Redeliver(const std::string& id);

  absl::StatusOr<std::vector<v1::Delivery>> List(const std::string& pipeline, int limit);
  absl::StatusOr<v1::Delivery> Get(const std::string& id);

 private:
  // Starts what the event's trusted pipelines trigger and finishes the delivery record.
  IntakeResult Dispatch(v1::Delivery d, const std::vector<v1::Pipeline>& pipelines);
  IntakeResult Finish(v1::Delivery delivery, int status, std::string message);

  storage::Database* db_;
  release::Executor* executor_;
  const Clock* clock_;
  IdGenerator* ids_;
  preview::PreviewManager* previews_;
};

}  // namespace slipway::trigger

#endif  // SLIPWAY_TRIGGER_INTAKE_H_
