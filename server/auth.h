// API tokens: issuing, listing, revoking, and checking a bearer token's scope. Tokens are
// "slw_" followed by 64 hex digits (256 random bits); only their SHA-256 is stored. Scopes are
// ordered: admin includes deploy, deploy includes read.
//
// This file holds no gRPC code: the services call Authenticate with the header value, and
// `slipwayd token …` uses the same class offline on a data dir.
#ifndef SLIPWAY_SERVER_AUTH_H_
#define SLIPWAY_SERVER_AUTH_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/token_text.h"
#include "slipway/v1/admin_service.pb.h"
#include "storage/database.h"
#include "storage/token_repository.h"

namespace slipway::server {

// Who is calling: the token's id and scope.
struct Principal {
  std::string token_id;
  v1::Scope scope = v1::SCOPE_UNSPECIFIED;
  std::string description;  // the token's, for the audit log
};

struct IssuedToken {
  v1::Token token;
  std::string secret;
};

// Scope names ("read", "deploy", "admin"): ParseScope and ScopeName in common/token_text.h.

// Thread-safe; does not own its collaborators. Tokens that authenticated are remembered for
// kAuthCacheTtl so that a call does not read the database; a revocation through this object
// takes effect at once, one made by another process (`slipwayd token revoke`) within
// kAuthCacheTtl.
class TokenManager {
 public:
  TokenManager(storage::Database* db, const Clock* clock, IdGenerator* ids)
      : db_(db), clock_(clock), ids_(ids) {}

  // Issues a token; the secret is in the result and nowhere else. INVALID_ARGUMENT for a
  // missing scope or an overlong description.
  absl::StatusOr<IssuedToken> Create(v1::Scope scope, std::string_view description,
                                     std::string_view created_by);
  absl::StatusOr<std::vector<v1::Token>> List(bool include_revoked);
  // NOT_FOUND for an unknown id; revoking a revoked token returns it unchanged.
  absl::StatusOr<v1::Token> Revoke(std::string_view id);

  static constexpr absl::Duration kAuthCacheTtl = absl::Seconds(1);

  // Checks `authorization` (the header value, "Bearer <token>") against the stored tokens and
  // `needed` scope. UNAUTHENTICATED if missing, malformed, unknown or revoked;
  // PERMISSION_DENIED if the token's scope is below `needed`.
  absl::StatusOr<Principal> Authenticate(std::string_view authorization, v1::Scope needed);

  // On a data dir with no active token: issues an admin token and writes it to `path` with
  // mode 0600. Returns true if it did so. Does nothing when an active token exists.
  absl::StatusOr<bool> BootstrapAdminToken(const std::string& path);
  // The same with the operator's own token (the contents of `admin_token_file`, trailing
  // whitespace ignored): stored as the admin token, written nowhere. INVALID_ARGUMENT naming
  // admin_token_file when it is not "slw_" and 64 hex digits.
  absl::StatusOr<bool> BootstrapAdminToken(const std::string& path, std::string_view given);

 private:
  storage::Database* db_;
  const Clock* clock_;
  IdGenerator* ids_;
  struct CachedToken {
    v1::Token token;
    absl::Time fetched;
  };
  void ClearCache();
  absl::StatusOr<IssuedToken> Store(v1::Scope scope, std::string_view description,
                                    std::string_view created_by, std::string secret);

  storage::TokenRepository repo_;
  absl::Mutex cache_mu_;
  // Keyed by the raw SHA-256 of the bearer token.
  absl::flat_hash_map<std::string, CachedToken> cache_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_AUTH_H_
