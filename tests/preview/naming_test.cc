#include "preview/naming.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "common/names.h"
#include "tests/testing/status_matchers.h"

namespace slipway::preview {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

TEST(NamingTest, ValidLabelsAreKeptAndOthersGetAStableHashSuffix) {
  EXPECT_EQ(LabelFor("pr-12"), "pr-12");
  EXPECT_EQ(LabelFor("main"), "main");
  std::string slashed = LabelFor("feature/login");
  EXPECT_THAT(slashed, ::testing::StartsWith("feature-login-"));
  EXPECT_EQ(slashed, LabelFor("feature/login"));  // deterministic
  EXPECT_NE(slashed, LabelFor("feature-login"));  // distinct from the literal label
  EXPECT_NE(LabelFor("Feature/Login"), slashed);
}

TEST(NamingTest, HostileBranchNamesGiveValidDistinctLabels) {
  const std::vector<std::string> hostile = {
      "$(rm -rf ~)", "`reboot`", "../../etc/passwd", "feature/ünïcødé-ветка",
      std::string(250, 'a'), std::string(250, 'a') + "b", "--", "", "a;b|c&d", "UPPER/case",
      "x/../y", "日本語"};
  std::set<std::string> seen;
  for (const auto& b : hostile) {
    std::string label = LabelFor(b);
    EXPECT_OK(CheckDnsLabel(label)) << "for branch " << b << ": " << label;
    EXPECT_LE(label.size(), 63u);
    EXPECT_EQ(label.find('/'), std::string::npos);
    EXPECT_EQ(label.find('.'), std::string::npos);
    EXPECT_TRUE(seen.insert(label).second) << "collision: " << label;
  }
}

TEST(NamingTest, RulesAndDisambiguation) {
  v1::PreviewNaming pr;
  pr.mutable_pr_number();
  EXPECT_EQ(*BaseName(pr, "feature/x", 42, {}), "pr-42");
  pr.mutable_pr_number()->set_prefix("shop-pr-");
  EXPECT_EQ(*BaseName(pr, "feature/x", 42, {}), "shop-pr-42");
  v1::PreviewNaming branch;
  branch.mutable_branch()->set_prefix("b-");
  EXPECT_EQ(*BaseName(branch, "main", 0, {}), "b-main");
  v1::PreviewNaming format;
  format.set_format("${trigger.branch}-demo");
  EXPECT_EQ(*BaseName(format, "main", 0, {{"trigger.branch", "main"}}), "main-demo");
  format.set_format("${nope.x");
  EXPECT_THAT(BaseName(format, "main", 0, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("naming.format")));
  std::string d = Disambiguate(std::string(63, 'a'), "shop/pr/app/pr:1");
  EXPECT_OK(CheckDnsLabel(d));
  EXPECT_EQ(d, Disambiguate(std::string(63, 'a'), "shop/pr/app/pr:1"));
  EXPECT_NE(d, Disambiguate(std::string(63, 'a'), "blog/pr/app/pr:1"));
}

}  // namespace
}  // namespace slipway::preview
