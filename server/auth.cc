#include "server/auth.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/time_format.h"

namespace slipway::server {
namespace {

constexpr std::string_view kTokenPrefix = "slw_";
constexpr size_t kTokenHexLength = 64;

bool WellFormed(std::string_view token) {
  if (token.size() != kTokenPrefix.size() + kTokenHexLength) return false;
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix) return false;
  for (char c : token.substr(kTokenPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<IssuedToken> TokenManager::Create(v1::Scope scope, std::string_view description,
                                                 std::string_view created_by) {
  if (scope != v1::SCOPE_READ && scope != v1::SCOPE_DEPLOY && scope != v1::SCOPE_ADMIN) {
    return absl::InvalidArgumentError("scope: required (read, deploy or admin)");
  }
  if (description.size() > 256) {
    return absl::InvalidArgumentError("description: at most 256 characters");
  }
  return Store(scope, description, created_by, std::string(kTokenPrefix) + ids_->RandomHex(32));
}

absl::StatusOr<IssuedToken> TokenManager::Store(v1::Scope scope, std::string_view description,
                                                std::string_view created_by, std::string secret) {
  IssuedToken out;
  out.secret = std::move(secret);
  out.token.set_id(ids_->RandomHex(6));
  out.token.set_scope(scope);
  out.token.set_description(std::string(description));
  out.token.set_created_by(std::string(created_by));
  *out.token.mutable_create_time() = ProtoTime(clock_->Now());
  RETURN_IF_ERROR(db_->Write(
      [&](storage::Transaction& tx) { return repo_.Insert(tx, out.token, Sha256(out.secret)); }));
  return out;
}

absl::StatusOr<std::vector<v1::Token>> TokenManager::List(bool include_revoked) {
  std::vector<v1::Token> out;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(out, repo_.List(tx, include_revoked));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Token> TokenManager::Revoke(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("id: required");
  v1::Token out;
  RETURN_IF_ERROR(db_->Write([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(out, repo_.Revoke(tx, id, FormatRfc3339(clock_->Now())));
    return absl::OkStatus();
  }));
  ClearCache();
  return out;
}

absl::StatusOr<Principal> TokenManager::Authenticate(std::string_view authorization,
                                                     v1::Scope needed) {
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing credentials: send \"authorization: Bearer <token>\"");
  }
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(authorization.data(), kBearer.size()),
                              absl::string_view(kBearer.data(), kBearer.size()))) {
    return absl::UnauthenticatedError("authorization: expected \"Bearer <token>\"");
  }
  std::string_view token = authorization.substr(kBearer.size());
  if (!WellFormed(token)) return absl::UnauthenticatedError("invalid token");
  const std::string hash = Sha256(token);
  const absl::Time now = clock_->Now();
  v1::Token found;
  bool cached = false;
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = cache_.find(hash);
    if (it != cache_.end() && now - it->second.fetched < kAuthCacheTtl) {
      found = it->second.token;
      cached = true;
    }
  }
  if (!cached) {
    absl::Status s = db_->Read([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(found, repo_.FindByHash(tx, hash));
      return absl::OkStatus();
    });
    if (absl::IsNotFound(s)) return absl::UnauthenticatedError("invalid token");
    RETURN_IF_ERROR(s);
    absl::MutexLock lock(&cache_mu_);
    // Only tokens that exist are kept, so the cache cannot be grown by guessing.
    if (cache_.size() >= 10'000) cache_.clear();
    cache_[hash] = CachedToken{found, now};
  }
  if (found.has_revoke_time()) {
    return absl::UnauthenticatedError(absl::StrCat("token ", found.id(), " was revoked"));
  }
  if (found.scope() < needed) {
    return absl::PermissionDeniedError(absl::StrCat("token ", found.id(), " has scope ",
                                                    ScopeName(found.scope()), "; this call needs ",
                                                    ScopeName(needed)));
  }
  return Principal{found.id(), found.scope(), found.description()};
}

void TokenManager::ClearCache() {
  absl::MutexLock lock(&cache_mu_);
  cache_.clear();
}

absl::StatusOr<bool> TokenManager::BootstrapAdminToken(const std::string& path) {
  return BootstrapAdminToken(path, "");
}

absl::StatusOr<bool> TokenManager::BootstrapAdminToken(const std::string& path,
                                                       std::string_view given) {
  while (!given.empty() && absl::ascii_isspace(static_cast<unsigned char>(given.back()))) {
    given.remove_suffix(1);
  }
  if (!given.empty() && !WellFormed(given)) {
    return absl::InvalidArgumentError(
        "admin_token_file: expected \"slw_\" and 64 lower-case hex digits (e.g. "
        "`echo slw_$(openssl rand -hex 32)`)");
  }
  int64_t active = 0;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(active, repo_.CountActive(tx));
    return absl::OkStatus();
  }));
  if (active > 0) return false;
  if (!given.empty()) {
    RETURN_IF_ERROR(Store(v1::SCOPE_ADMIN, "bootstrap admin token (admin_token_file)", "slipwayd",
                          std::string(given))
                        .status());
    return true;
  }
  ASSIGN_OR_RETURN(IssuedToken issued,
                   Create(v1::SCOPE_ADMIN, "bootstrap admin token", "slipwayd"));
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  }
  std::string line = issued.secret + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return true;
}

}  // namespace slipway::server
