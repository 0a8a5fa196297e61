// Preview names: DNS labels of at most 63 characters, deterministic for a pull request or a
// branch, whatever the branch is called.
#ifndef SLIPWAY_PREVIEW_NAMING_H_
#define SLIPWAY_PREVIEW_NAMING_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::preview {

// `text` as a DNS label. Text that already is a valid label of at most 63 characters is kept
// as it is. Anything else (upper case, slashes, unicode, `$(…)`, 250 characters) is turned
// into lower-case letters, digits and single dashes, cut to fit, and given "-" and 6 hex
// digits of the SHA-256 of the original text, so two different texts never share a label
// because of what was cut or replaced.
std::string LabelFor(std::string_view text);

// The name a blueprint's naming rule gives, before collisions are resolved. `values` holds
// trigger.branch, trigger.pull_request, trigger.sha and args.* for format rules.
// Default rule: "pr-<n>" for a pull request, the branch's label otherwise. INVALID_ARGUMENT
// for a format that does not parse or reads an unknown value.
absl::StatusOr<std::string> BaseName(const v1::PreviewNaming& naming, std::string_view branch,
                                     int64_t pull_request,
                                     const std::map<std::string, std::string>& values);

// `base` made distinct for `owner` (pipeline/blueprint/key) when another live preview already
// has it: "<base cut to fit>-<6 hex digits of owner's hash>". Deterministic.
std::string Disambiguate(std::string_view base, std::string_view owner);

}  // namespace slipway::preview

#endif  // SLIPWAY_PREVIEW_NAMING_H_
