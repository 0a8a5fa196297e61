#include "expression/flow_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/proto_yaml.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/status_matchers.h"

namespace slipway::expression {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::Stage StageWithFlow(const std::string& flow_yaml) {
  v1::Pipeline p;
  absl::Status s = ParseYaml(R"(
name: shop
stages:
  - name: dev
    resources:
      - {name: web, driver: process, process: {command: ["web", "--version", "${artifact.version}"]}}
      - {name: migrate, kind: job, driver: command, command: {apply: [migrate]}}
    flow:
)" + flow_yaml, &p);
  EXPECT_TRUE(s.ok()) << s;
  return p.stages(0);
}

std::vector<std::string> Check(const v1::Stage& stage, std::map<std::string, std::string> args = {}) {
  FlowCheckInput in;
  in.flow = &stage.flow();
  in.resources = &stage.resources();
  in.field = "stages[0].flow";
  in.args = std::move(args);
  return CheckFlow(in);
}

TEST(FlowCheckTest, ReadsOfEarlierNodesArgsAndTriggerPass) {
  v1::Stage st = StageWithFlow(R"(
      sequential:
        - {ref: migrate, run_job: {resource: migrate, args: ["--to", "${args.version}"]}}
        - parallel:
            - {ref: web, deploy: {resource: web, artifact: {version: "${args.version}", sha: "${trigger.sha}"}}}
            - {ref: note, message: {url: "http://chat", text: "migrated: ${refs.migrate.exit_code}"}}
        - {ref: tell, message: {url: "http://chat", text: "${refs.web.version} by ${trigger.actor}"}}
)");
  EXPECT_THAT(Check(st, {{"version", "1.4.2"}}), IsEmpty());
}

TEST(FlowCheckTest, ALaterNodeOrAParallelSiblingCannotBeRead) {
  v1::Stage st = StageWithFlow(R"(
      sequential:
        - {ref: early, message: {url: "http://x", text: "${refs.late.status}"}}
        - parallel:
            - {ref: a, deploy: {resource: web}}
            - {ref: b, message: {url: "http://x", text: "${refs.a.version}"}}
        - {ref: late, message: {url: "http://x", text: "ok"}}
)");
  auto problems = Check(st);
  EXPECT_THAT(problems, Contains(HasSubstr("stages[0].flow.sequential[0].message.text")));
  EXPECT_THAT(problems, Contains(HasSubstr("node \"late\" has not finished")));
  EXPECT_THAT(problems, Contains(HasSubstr("stages[0].flow.sequential[1].parallel[1].message.text")));
  EXPECT_EQ(problems.size(), 2u);
}

TEST(FlowCheckTest, MissingArgumentsUnknownOutputsAndFunctionsAreReported) {
  v1::Stage st = StageWithFlow(R"(
      sequential:
        - {ref: web, deploy: {resource: web, artifact: {version: "${args.version}"}}}
        - {ref: a, message: {url: "http://x", text: "${refs.web.exit_code}"}}
        - {ref: b, message: {url: "http://x", text: "${truncate(trigger.sha, 'seven')}"}}
        - {ref: c, message: {url: "http://x", text: "${trigger.colour}"}}
        - {ref: d, skip_if: "${artifact.version}", message: {url: "http://x", text: "x"}}
        - {ref: e, message: {url: "http://x", text: "${preview.name}"}}
)");
  auto problems = Check(st, {{"other", "x"}});
  EXPECT_THAT(problems, Contains(HasSubstr("argument \"version\" was not given (given: other)")));
  EXPECT_THAT(problems, Contains(HasSubstr("node \"web\" has no output \"exit_code\"")));
  EXPECT_THAT(problems, Contains(HasSubstr("argument 2 of truncate() must be int")));
  EXPECT_THAT(problems, Contains(HasSubstr("known trigger values")));
  EXPECT_THAT(problems, Contains(HasSubstr("artifact values exist only in a resource's settings")));
  EXPECT_THAT(problems, Contains(HasSubstr("preview values exist only in preview blueprints")));
}

TEST(FlowCheckTest, ResourceSettingsMayReadTheArtifactButNotRefs) {
  v1::Stage st = StageWithFlow(R"(
      sequential:
        - {ref: web, deploy: {resource: web}}
)");
  st.mutable_resources(0)->mutable_process()->add_command("${refs.web.version}");
  auto problems = Check(st);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("resources[web].process.command[3]"));
  EXPECT_THAT(problems[0], HasSubstr("node outputs cannot be read here"));
}

TEST(FlowCheckTest, StatusNamesTheFirstProblem) {
  v1::Stage st = StageWithFlow(R"(
      sequential:
        - {ref: web, deploy: {resource: web, artifact: {version: "${args.version}"}}}
)");
  FlowCheckInput in{&st.flow(), &st.resources(), "stages[0].flow", "resources", {}, false};
  EXPECT_THAT(CheckFlowStatus(in),
              testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("flow check failed: stages[0].flow.sequential[0].deploy.artifact.version")));
  in.args["version"] = "1";
  EXPECT_OK(CheckFlowStatus(in));
}

TEST(FlowCheckTest, TheExamplePipelineFlowsPassWithTheirArguments) {
  v1::Pipeline p;
  ASSERT_OK(ParseYaml(testing::ReadRepoFile("examples/shop/pipeline.yaml"), &p));
  for (int i = 0; i < p.stages_size(); ++i) {
    FlowCheckInput in{&p.stages(i).flow(), &p.stages(i).resources(),
                      "stages[" + std::to_string(i) + "].flow", "resources", {{"version", "1.0.0"}}, false};
    EXPECT_THAT(CheckFlow(in), IsEmpty()) << p.stages(i).name();
  }
}

}  // namespace
}  // namespace slipway::expression
