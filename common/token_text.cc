#include "common/token_text.h"

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"

namespace slipway {

absl::StatusOr<v1::Scope> ParseScope(std::string_view text, std::string_view field) {
  if (text == "read") return v1::SCOPE_READ;
  if (text == "deploy") return v1::SCOPE_DEPLOY;
  if (text == "admin") return v1::SCOPE_ADMIN;
  return absl::InvalidArgumentError(absl::StrCat(std::string(field), ": \"", std::string(text),
                                                 "\" is not read, deploy or admin"));
}

std::string ScopeName(v1::Scope scope) {
  switch (scope) {
    case v1::SCOPE_READ:
      return "read";
    case v1::SCOPE_DEPLOY:
      return "deploy";
    case v1::SCOPE_ADMIN:
      return "admin";
    default:
      return "none";
  }
}

void PrintTokenTable(std::FILE* out, const std::vector<v1::Token>& tokens) {
  std::fprintf(out, "%-14s %-7s %-25s %-25s %s\n", "ID", "SCOPE", "CREATED", "REVOKED",
               "DESCRIPTION");
  for (const auto& t : tokens) {
    std::fprintf(out, "%-14s %-7s %-25s %-25s %s\n", t.id().c_str(), ScopeName(t.scope()).c_str(),
                 FormatTimestamp(t.create_time()).c_str(),
                 !t.has_revoke_time() ? "-" : FormatTimestamp(t.revoke_time()).c_str(),
                 t.description().c_str());
  }
}

}  // namespace slipway
