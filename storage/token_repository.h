// Stored API tokens: only the SHA-256 of each bearer token is kept, never the token itself.
#ifndef SLIPWAY_STORAGE_TOKEN_REPOSITORY_H_
#define SLIPWAY_STORAGE_TOKEN_REPOSITORY_H_

#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slipway/v1/admin_service.pb.h"
#include "storage/database.h"

namespace slipway::storage {

// Stateless; every method runs inside the caller's transaction.
class TokenRepository {
 public:
  // `hash` is the raw SHA-256 of the bearer token. ALREADY_EXISTS on a duplicate id or hash.
  absl::Status Insert(Transaction& tx, const v1::Token& token, std::string_view hash) const;
  // The token with this hash, revoked or not. NOT_FOUND if none.
  absl::StatusOr<v1::Token> FindByHash(Transaction& tx, std::string_view hash) const;
  absl::StatusOr<v1::Token> Get(Transaction& tx, std::string_view id) const;
  // In creation order.
  absl::StatusOr<std::vector<v1::Token>> List(Transaction& tx, bool include_revoked) const;
  // Sets revoke_time if not already set. NOT_FOUND for an unknown id.
  absl::StatusOr<v1::Token> Revoke(Transaction& tx, std::string_view id,
                                   std::string_view revoke_time) const;
  // Number of tokens that are not revoked.
  absl::StatusOr<int64_t> CountActive(Transaction& tx) const;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_TOKEN_REPOSITORY_H_
