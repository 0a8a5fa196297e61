// API tokens as people read and write them: scope names ("read", "deploy", "admin") and the
// token table `slipway token list` and `slipwayd token list` print.
#ifndef SLIPWAY_COMMON_TOKEN_TEXT_H_
#define SLIPWAY_COMMON_TOKEN_TEXT_H_

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "slipway/v1/admin_service.pb.h"

namespace slipway {

// INVALID_ARGUMENT naming `field` for anything but read, deploy or admin.
absl::StatusOr<v1::Scope> ParseScope(std::string_view text, std::string_view field = "scope");
// "read", "deploy", "admin", or "none".
std::string ScopeName(v1::Scope scope);
// ID, SCOPE, CREATED, REVOKED, DESCRIPTION: a header and one line per token.
void PrintTokenTable(std::FILE* out, const std::vector<v1::Token>& tokens);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_TOKEN_TEXT_H_
