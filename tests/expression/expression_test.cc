#include "expression/expression.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/testing/status_matchers.h"

namespace slipway::expression {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::flat_hash_map<std::string, std::string> kValues = {
    {"trigger.sha", "3f2c9a1b7e"},
    {"trigger.branch", "Feature/Login_Page"},
    {"args.version", "1.4.2"},
    {"args.empty", ""},
    {"stage.name", "prod"},
    {"refs.deploy-web.version", "1.4.1"},
};

std::string Eval(const std::string& text) {
  auto t = Template::Parse(text);
  EXPECT_OK(t);
  if (!t.ok()) return "";
  auto v = t->Evaluate(kValues);
  EXPECT_OK(v);
  return v.ok() ? *v : "";
}

TEST(ExpressionTest, TextAndPaths) {
  EXPECT_EQ(Eval("plain"), "plain");
  EXPECT_EQ(Eval("v${args.version}-${trigger.sha}"), "v1.4.2-3f2c9a1b7e");
  EXPECT_EQ(Eval("${refs.deploy-web.version}"), "1.4.1");
  EXPECT_EQ(Eval("cost: $${not.an.expression}"), "cost: ${not.an.expression}");
}

TEST(ExpressionTest, Functions) {
  EXPECT_EQ(Eval("${slug(trigger.branch)}"), "feature-login-page");
  EXPECT_EQ(Eval("${lower('ABC')}${upper('x')}"), "abcX");
  EXPECT_EQ(Eval("${replace(args.version, '.', '-')}"), "1-4-2");
  EXPECT_EQ(Eval("${truncate(trigger.sha, 4)}"), "3f2c");
  EXPECT_EQ(Eval("${short_sha(trigger.sha)}"), "3f2c9a1");
  EXPECT_EQ(Eval("${concat('a', 1, true)}"), "a1true");
  EXPECT_EQ(Eval("${default(args.empty, 'fallback')}"), "fallback");
  EXPECT_EQ(Eval("${if(eq(stage.name, 'prod'), 'live', 'test')}"), "live");
  EXPECT_EQ(Eval("${if(ne(stage.name, 'prod'), 'live', 'test')}"), "test");
  EXPECT_EQ(Eval("${and(true, not(false))}"), "true");
  EXPECT_EQ(Eval("${or(false, false)}"), "false");
  EXPECT_EQ(Eval("${trim('  x ')}"), "x");
  EXPECT_EQ(Eval("${sha256('abc')}"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ExpressionTest, HostileValuesAreJustText) {
  absl::flat_hash_map<std::string, std::string> values = {{"trigger.branch", "$(rm -rf ~)`id`${x}"}};
  auto t = Template::Parse("${trigger.branch}");
  ASSERT_OK(t);
  EXPECT_EQ(*t->Evaluate(values), "$(rm -rf ~)`id`${x}");
  EXPECT_EQ(Slug("$(rm -rf ~)`id`"), "rm-rf-id");
  EXPECT_EQ(Slug("../../etc/passwd"), "etc-passwd");
  EXPECT_EQ(Slug(""), "x");
  EXPECT_EQ(Slug(std::string(250, 'a')).size(), 63u);
}

TEST(ExpressionTest, ParseErrorsSayWhere) {
  EXPECT_THAT(Template::Parse("v${args.version"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unterminated")));
  EXPECT_THAT(Template::Parse("${slug(trigger.sha}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected ',' or ')'")));
  EXPECT_THAT(Template::Parse("${version}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a path")));
  EXPECT_THAT(Template::Parse("${'open}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unterminated")));
  EXPECT_THAT(Template::Parse("${a.b c}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at 7")));
}

TEST(ExpressionTest, DeeplyNestedCallsAreRefusedInsteadOfExhaustingTheStack) {
  auto nested = [](int depth) {
    std::string text = "${";
    for (int i = 0; i < depth; ++i) text += "lower(";
    text += "trigger.sha";
    for (int i = 0; i < depth; ++i) text += ")";
    return text + "}";
  };
  EXPECT_EQ(Eval(nested(32)), "3f2c9a1b7e");
  EXPECT_THAT(Template::Parse(nested(33)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("deeper than 32")));
  // What crashed slipwayd at run start: 7,000 levels, and an unclosed run of them.
  EXPECT_THAT(Template::Parse(nested(7000)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("deeper than 32")));
  std::string unclosed = "${";
  for (int i = 0; i < 7000; ++i) unclosed += "lower(";
  EXPECT_THAT(Template::Parse(unclosed + "}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("deeper than 32")));
}

TEST(ExpressionTest, CheckValidatesPathsFunctionsAndTypes) {
  auto resolve = [](const std::string& path) -> absl::Status {
    if (absl::StartsWith(path, "trigger.") || path == "args.version") return absl::OkStatus();
    return absl::InvalidArgumentError("\"" + path + "\" is not available here");
  };
  auto check = [&](const std::string& text) {
    auto t = Template::Parse(text);
    EXPECT_OK(t);
    return t->Check(resolve);
  };
  EXPECT_OK(check("${slug(trigger.branch)}-${args.version}"));
  EXPECT_THAT(check("${args.missing}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"args.missing\" is not available")));
  EXPECT_THAT(check("${frob(trigger.sha)}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown function \"frob\"")));
  EXPECT_THAT(check("${truncate(trigger.sha, 'x')}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("argument 2 of truncate() must be int, not string")));
  EXPECT_THAT(check("${slug()}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("slug() takes 1 argument, not 0")));
  EXPECT_THAT(check("${if(trigger.sha, 'a', 'b')}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("condition of if() must be bool")));
}

TEST(ExpressionTest, PathsAreListedInOrder) {
  auto t = Template::Parse("${concat(args.a, refs.x.y)} and ${trigger.sha}");
  ASSERT_OK(t);
  EXPECT_THAT(t->Paths(), ElementsAre("args.a", "refs.x.y", "trigger.sha"));
  EXPECT_FALSE(t->IsLiteral());
  EXPECT_TRUE(Template::Parse("plain $${x}")->IsLiteral());
}

TEST(ExpressionTest, EvaluatingAnUnknownPathIsAnError) {
  auto t = Template::Parse("${args.nope}");
  ASSERT_OK(t);
  EXPECT_THAT(t->Evaluate(kValues), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("args.nope")));
}

TEST(ExpressionTest, TemplatesHaveASizeLimit) {
  EXPECT_TRUE(Template::Parse(std::string(kMaxTemplateBytes, 'x')).ok());
  auto big = Template::Parse(std::string(kMaxTemplateBytes + 1, 'x'));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("at most 65536"), std::string::npos);
}

}  // namespace
}  // namespace slipway::expression
