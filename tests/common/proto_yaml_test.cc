#include "common/proto_yaml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/protobuf/util/message_differencer.h"
#include "slipway/v1/pipeline.pb.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/status_matchers.h"

namespace slipway {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(ProtoYamlTest, ReadsTheExamplePipeline) {
  v1::Pipeline p;
  ASSERT_OK(ParseYaml(testing::ReadRepoFile("examples/shop/pipeline.yaml"), &p));
  EXPECT_EQ(p.name(), "shop");
  ASSERT_EQ(p.stages_size(), 3);
  EXPECT_EQ(p.stages(0).concurrency(), v1::CONCURRENCY_POLICY_REPLACE);
  EXPECT_EQ(p.stages(0).flow().sequential().steps(0).deploy().artifact().version(),
            "${args.version}");
  EXPECT_EQ(p.stages(2).flow().sequential().steps(2).parallel().steps_size(), 2);
  EXPECT_EQ(p.sources(0).webhook_secret().env(), "SHOP_HOOK_SECRET");
  EXPECT_EQ(p.preview_blueprints(0).budget().when_full(), v1::WHEN_FULL_EVICT_OLDEST);
}

TEST(ProtoYamlTest, YamlAndJsonOutputReadBackToTheSameMessage) {
  v1::Pipeline p;
  ASSERT_OK(ParseYaml(testing::ReadRepoFile("examples/shop/pipeline.yaml"), &p));
  p.set_revision(7);
  v1::Pipeline from_yaml, from_json;
  ASSERT_OK(ParseYaml(ToYaml(p), &from_yaml));
  ASSERT_OK(ParseYaml(ToJson(p), &from_json));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(p, from_yaml)) << ToYaml(p);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(p, from_json)) << ToJson(p);
}

TEST(ProtoYamlTest, NumbersAndBooleansStayStringsInStringFields) {
  v1::Pipeline p;
  ASSERT_OK(ParseYaml("name: x\ndescription: 1.10\n", &p));
  EXPECT_EQ(p.description(), "1.10");
  ASSERT_OK(ParseYaml("name: x\ndescription: \"true\"\n", &p));
  EXPECT_THAT(ToYaml(p), HasSubstr("description: \"true\""));
}

TEST(ProtoYamlTest, UnknownFieldIsAnErrorWithPathAndLine) {
  v1::Pipeline p;
  absl::Status s = ParseYaml(R"(name: shop
stages:
  - name: dev
    resources:
      - name: web
        dirver: process
)",
                             &p);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          AllOf(HasSubstr("stages[0].resources[0].dirver"), HasSubstr("line 6"),
                                HasSubstr("unknown field \"dirver\""))));
}

TEST(ProtoYamlTest, FieldLinesFindAFieldByIndexOrByNameOrItsNearestParent) {
  const std::string yaml = R"(name: shop
stages:
  - name: dev
    resources:
      - name: web
        driver: dokcer
  - name: prod
    flow:
      sequential:
        - {ref: a, deploy: {resource: web}}
        - ref: b
          timeout: 5m
)";
  v1::Pipeline p;
  FieldLines lines;
  ASSERT_OK(ParseYaml(yaml, &p, &lines));
  EXPECT_EQ(lines.LineOf("name"), 1);
  EXPECT_EQ(lines.LineOf("stages[0].resources[0].driver"), 6);
  EXPECT_EQ(lines.LineOf("stages[dev].resources[web].driver"), 6);
  EXPECT_EQ(lines.LineOf("stages[prod].flow.sequential[1].timeout"), 12);
  EXPECT_EQ(lines.LineOf("stages[prod].flow.sequential[0].deploy.resource"), 10);
  // A field the file does not write: the nearest one around it.
  EXPECT_EQ(lines.LineOf("stages[prod].flow.sequential[1].retry.backoff"), 11);
  EXPECT_EQ(lines.LineOf("stages[prod].concurrency"), 7);
  EXPECT_EQ(lines.LineOf("stages[nope].flow"), 2);
  EXPECT_EQ(lines.LineOf("sources"), 0);
  EXPECT_EQ(lines.LineOf(""), 0);
}

TEST(ProtoYamlTest, WrongTypesAreErrors) {
  v1::Pipeline p;
  EXPECT_THAT(ParseYaml("name: [a, b]\n", &p),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
  EXPECT_THAT(
      ParseYaml("stages: {name: dev}\n", &p),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stages (line 1): expected a list")));
  EXPECT_THAT(ParseYaml("stages: [{name: dev, concurrency: sometimes}]\n", &p),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("stages[0].concurrency"),
                             HasSubstr("allow, queue, forbid, replace, latest"))));
  EXPECT_THAT(ParseYaml("stages: [{name: dev, protection: {required_approvals: many}}]\n", &p),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not an integer")));
}

TEST(ProtoYamlTest, TwoMembersOfAOneofAreAnError) {
  v1::Pipeline p;
  EXPECT_THAT(ParseYaml(R"(stages:
  - name: dev
    flow:
      sequential:
        - {ref: a, deploy: {resource: web}, sleep: {duration: 1s}}
)",
                        &p),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("stages[0].flow.sequential[0].sleep"),
                             HasSubstr("cannot both be set"))));
}

TEST(ProtoYamlTest, ADuplicateKeyIsAnError) {
  v1::Pipeline p;
  EXPECT_THAT(ParseYaml("name: a\nstages:\n  - name: dev\n    name: prod\n", &p),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("stages[0].name (line 4)"), HasSubstr("given twice"))));
}

TEST(ProtoYamlTest, MalformedYamlIsAnError) {
  v1::Pipeline p;
  EXPECT_THAT(ParseYaml("name: [unclosed\n", &p),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid YAML")));
}

TEST(ProtoYamlTest, EnumShortNamesDropTheTypePrefix) {
  EXPECT_EQ(EnumShortName(v1::ConcurrencyPolicy_descriptor()->FindValueByNumber(
                v1::CONCURRENCY_POLICY_REPLACE)),
            "replace");
  EXPECT_EQ(EnumShortName(v1::WhenFull_descriptor()->FindValueByNumber(v1::WHEN_FULL_EVICT_OLDEST)),
            "evict_oldest");
}

}  // namespace
}  // namespace slipway

namespace slipway {
namespace {

// Workflows nested `depth` levels in a stage's flow, as YAML (flow style).
std::string NestedFlowYaml(int depth) {
  std::string steps = "[{ref: go, sleep: {duration: 1s}}]";
  for (int i = 0; i < depth; ++i) steps = "[{sequential: " + steps + "}]";
  return "name: shop\nstages:\n  - name: dev\n    flow: {sequential: " + steps + "}\n";
}

TEST(ProtoYamlTest, NestingHasALimitThatIsNamed) {
  v1::Pipeline p;
  EXPECT_TRUE(ParseYaml(NestedFlowYaml(16), &p).ok());
  EXPECT_THAT(ParseYaml(NestedFlowYaml(40), &p),
              testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                ::testing::HasSubstr("nested deeper than 48 levels")));
  // Far past the limit: refused the same way, without exhausting the stack.
  EXPECT_THAT(ParseYaml(NestedFlowYaml(1500), &p),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("deep")));
}

}  // namespace
}  // namespace slipway
