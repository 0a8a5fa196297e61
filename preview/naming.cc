#include "preview/naming.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/random.h"
#include "expression/expression.h"

namespace slipway::preview {
namespace {

constexpr size_t kMaxLabel = 63;

std::string WithSuffix(std::string_view base, std::string_view hashed) {
  std::string suffix = "-" + Sha256Hex(hashed).substr(0, 6);
  std::string head(base.substr(0, kMaxLabel - suffix.size()));
  while (!head.empty() && head.back() == '-') head.pop_back();
  return head + suffix;
}

}  // namespace

std::string LabelFor(std::string_view text) {
  if (CheckDnsLabel(text).ok()) return std::string(text);
  std::string slug;
  bool dash = false;
  for (unsigned char c : text) {
    if (c < 0x80 && std::isalnum(c)) {
      if (dash && !slug.empty()) slug.push_back('-');
      dash = false;
      slug.push_back(static_cast<char>(std::tolower(c)));
    } else {
      dash = true;
    }
    if (slug.size() > kMaxLabel) break;
  }
  if (slug.empty()) slug = "preview";
  return WithSuffix(slug, text);
}

absl::StatusOr<std::string> BaseName(const v1::PreviewNaming& naming, std::string_view branch,
                                     int64_t pull_request,
                                     const std::map<std::string, std::string>& values) {
  switch (naming.rule_case()) {
    case v1::PreviewNaming::kFormat: {
      auto tmpl = expression::Template::Parse(naming.format());
      if (!tmpl.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("naming.format: ", tmpl.status().message()));
      }
      absl::flat_hash_map<std::string, std::string> v(values.begin(), values.end());
      auto text = tmpl->Evaluate(v);
      if (!text.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("naming.format: ", text.status().message()));
      }
      return LabelFor(*text);
    }
    case v1::PreviewNaming::kBranch:
      return LabelFor(naming.branch().prefix() + std::string(branch));
    case v1::PreviewNaming::kPrNumber:
      if (pull_request > 0) {
        std::string prefix = naming.pr_number().prefix().empty() ? "pr-" : naming.pr_number().prefix();
        return LabelFor(absl::StrCat(prefix, pull_request));
      }
      return LabelFor(branch);
    case v1::PreviewNaming::RULE_NOT_SET:
      break;
  }
  if (pull_request > 0) return LabelFor(absl::StrCat("pr-", pull_request));
  return LabelFor(branch);
}

std::string Disambiguate(std::string_view base, std::string_view owner) {
  return WithSuffix(base, owner);
}

}  // namespace slipway::preview
