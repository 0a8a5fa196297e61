// Stored preview environments. A preview is live in every state but DELETED; among live
// previews its name and its (pipeline, blueprint, key) are unique.
#ifndef SLIPWAY_STORAGE_PREVIEW_REPOSITORY_H_
#define SLIPWAY_STORAGE_PREVIEW_REPOSITORY_H_

#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "slipway/v1/preview.pb.h"
#include "storage/database.h"

namespace slipway::storage {

// Stateless; every method runs inside the caller's transaction.
class PreviewRepository {
 public:
  // Inserts or replaces the preview with this uid. ALREADY_EXISTS if another live preview has
  // its name or its (pipeline, blueprint, key).
  absl::Status Put(Transaction& tx, const v1::Preview& preview) const;
  // The live preview with this name, else the most recently changed deleted one.
  absl::StatusOr<std::optional<v1::Preview>> FindByName(Transaction& tx,
                                                        std::string_view name) const;
  absl::StatusOr<std::optional<v1::Preview>> FindLive(Transaction& tx, std::string_view pipeline,
                                                      std::string_view blueprint,
                                                      std::string_view key) const;
  // Whether a live preview has this name.
  absl::StatusOr<bool> NameTaken(Transaction& tx, std::string_view name) const;
  // Live previews (and deleted ones when asked), oldest first; `pipeline` empty for all.
  absl::StatusOr<std::vector<v1::Preview>> List(Transaction& tx, std::string_view pipeline,
                                                bool include_deleted) const;

  // What deliveries last said of a subject ("app/pr:12", "app/branch:main"): open or not.
  absl::Status SetSubjectOpen(Transaction& tx, std::string_view pipeline, std::string_view key,
                              bool open, int64_t time_ms) const;
  // nullopt if no delivery ever said.
  absl::StatusOr<std::optional<bool>> SubjectOpen(Transaction& tx, std::string_view pipeline,
                                                  std::string_view key) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_PREVIEW_REPOSITORY_H_
