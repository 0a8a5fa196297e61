// The audit trail's writer: every action that changes something, whoever did it, appended to the
// store (and optionally to a JSON-lines file for shipping) before the action's answer goes out.
#ifndef SLIPWAY_STORAGE_AUDIT_LOG_H_
#define SLIPWAY_STORAGE_AUDIT_LOG_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "slipway/v1/audit_service.pb.h"
#include "storage/database.h"
#include "storage/history_repository.h"

namespace slipway::storage {

// The longest outcome message kept; longer ones are cut.
inline constexpr size_t kMaxAuditOutcomeBytes = 512;

// Thread-safe. Does not own its collaborators.
class AuditLog {
 public:
  AuditLog(Database* db, const Clock* clock) : db_(db), clock_(clock) {}
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Also appends every record, as one line of protobuf JSON, to `path` (created 0600). Call
  // before the first Record. FAILED_PRECONDITION naming the path if it cannot be opened.
  absl::Status ShipTo(const std::string& path);

  // Stamps `record` with the time (if unset), masks URL credentials and cuts the outcome, and
  // appends it in its own write transaction. The trail is part of what a write acknowledges:
  // an error here is returned (and logged) but does not undo the action.
  absl::Status Record(v1::AuditRecord record);
  // The same inside the caller's transaction, for actions that write their own; the file line
  // is written once the caller's write has committed (never if it is rolled back). Repeatable
  // (Database::WriteOptions).
  absl::Status Append(Transaction& tx, v1::AuditRecord record);

  // For a call being served: a rider (storage/database.h) that appends `*record` (normalized
  // here; its sequence is set when appended) to the first write the call commits, so the change
  // and its record share one transaction. After the call, ShipCommitted it if the rider
  // committed, else Record it.
  WriteRider Rider(const std::shared_ptr<v1::AuditRecord>& record);
  // Appends a record a rider committed to the shipping file, if any.
  void ShipCommitted(const v1::AuditRecord& record) { Ship(record); }

  // Newest first; INVALID_ARGUMENT for a bad page size, token or filter.
  absl::StatusOr<v1::ListAuditRecordsResponse> List(const v1::ListAuditRecordsRequest& request);

  // Deletes records older than `keep` as of the clock's now; returns how many.
  absl::StatusOr<int64_t> Prune(absl::Duration keep);

 private:
  void Normalize(v1::AuditRecord& record) const;
  // Appends a normalized record in `tx`; its line is shipped once `tx` has committed.
  absl::Status AppendNormalized(Transaction& tx, v1::AuditRecord record);
  void Ship(const v1::AuditRecord& record);

  Database* db_;
  const Clock* clock_;
  AuditRepository repo_;
  absl::Mutex file_mu_;
  std::FILE* file_ ABSL_GUARDED_BY(file_mu_) = nullptr;
};

// "OK", or "<CODE>: <message>".
std::string OutcomeOf(const absl::Status& status);

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_AUDIT_LOG_H_
