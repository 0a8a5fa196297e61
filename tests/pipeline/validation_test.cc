#include "pipeline/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/proto_yaml.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/status_matchers.h"

namespace slipway::pipeline {

void PrintTo(const Problem& p, std::ostream* os) { *os << p.field << ": " << p.message; }

namespace {

using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;

v1::Pipeline Parse(const std::string& yaml) {
  v1::Pipeline p;
  absl::Status s = ParseYaml(yaml, &p);
  EXPECT_TRUE(s.ok()) << s;
  return p;
}

// Matches a Problem with this field and a message containing `text`.
::testing::Matcher<Problem> ProblemAt(const std::string& field, const std::string& text) {
  return ::testing::AllOf(Field(&Problem::field, field), Field(&Problem::message, HasSubstr(text)));
}

TEST(ValidationTest, TheExampleAndTheTestPipelineAreValid) {
  EXPECT_THAT(Validate(Parse(testing::ReadRepoFile("examples/shop/pipeline.yaml"))),
              ::testing::IsEmpty());
  EXPECT_THAT(Validate(testing::MinimalPipeline()), ::testing::IsEmpty());
}

TEST(ValidationTest, UnknownDriverIsReportedAtItsPath) {
  v1::Pipeline p = testing::MinimalPipeline();
  p.mutable_stages(1)->mutable_resources(0)->set_driver("dokcer");
  EXPECT_THAT(Validate(p), Contains(ProblemAt("stages[prod].resources[web].driver",
                                              "unknown driver \"dokcer\"")));
  EXPECT_THAT(ProblemsToStatus(Validate(p)),
              testing::StatusIs(
                  absl::StatusCode::kInvalidArgument,
                  HasSubstr("stages[prod].resources[web].driver: unknown driver \"dokcer\"")));
}

TEST(ValidationTest, ContainerSettingsAreCheckedAtTheirPaths) {
  v1::Pipeline p = Parse(R"(
name: shop
stages:
  - name: prod
    resources:
      - name: web
        driver: container
        container:
          image: "${artifact.image}"
          ports: [{container_port: 8080}, {container_port: 8080}, {name: Bad_Name, container_port: 70000}]
          health: {http_path: healthz, port: admin}
          limits: {memory: lots, cpus: "-1"}
          volumes: [{name: data, path: relative}, {name: data, path: /x}]
          env: {"1BAD": x}
          secret_env: {TOKEN: {}}
          route: true
      - name: db
        driver: container
        container: {image: "postgres:15", route: true}
    flow: {sequential: [{deploy: {resource: web}}]}
)");
  auto problems = Validate(p);
  const std::string c = "stages[prod].resources[web].container";
  EXPECT_THAT(problems, Contains(ProblemAt(c + ".ports[1].container_port", "listed twice")));
  EXPECT_THAT(problems, Contains(ProblemAt(c + ".ports[2].container_port", "outside 1-65535")));
  EXPECT_THAT(problems, Contains(ProblemAt(c + ".ports[2].name", "")));
  EXPECT_THAT(problems, Contains(ProblemAt(c + ".health.http_path", "must start with '/'")));
  EXPECT_THAT(problems, Contains(ProblemAt(c + ".health.port", "no port is named \"admin\"")));
  EXPECT_THAT(problems, Contains(ProblemAt(c + ".limits.memory", "")));
  EXPECT_THAT(problems, Contains(ProblemAt(c + ".limits.cpus", "not a number of CPUs")));
  EXPECT_THAT(problems, Contains(ProblemAt(c + ".volumes[0].path", "absolute path")));
  EXPECT_THAT(problems, Contains(ProblemAt(c + ".volumes[1].name", "duplicate volume")));
  EXPECT_THAT(problems, Contains(ProblemAt(c + ".env.1BAD", "not a valid environment variable")));
  EXPECT_THAT(problems, Contains(ProblemAt(c + ".secret_env.TOKEN", "")));
  EXPECT_THAT(problems,
              Contains(ProblemAt("stages[prod].resources[db].container.route", "already routed")));
}

TEST(ValidationTest, AValidContainerResourcePasses) {
  v1::Pipeline p = Parse(R"(
name: shop
stages:
  - name: prod
    resources:
      - name: web
        driver: container
        container:
          image: "${artifact.image}"
          command: ["/app/server"]
          env: {DATABASE_URL: "postgres://db:5432/shop"}
          secret_env: {API_KEY: {env: SHOP_API_KEY}}
          ports: [{name: http, container_port: 8080}]
          health: {http_path: /healthz}
          limits: {memory: 256MiB, cpus: "0.5"}
          pull: if_not_present
          restart: always
      - name: db
        driver: container
        container: {image: "postgres:15", volumes: [{name: data, path: /var/lib/postgresql/data}]}
    flow: {sequential: [{ref: db, deploy: {resource: db}}, {ref: web, deploy: {resource: web}}]}
)");
  EXPECT_THAT(Validate(p), ::testing::IsEmpty());
}

TEST(ValidationTest, NamesMustBeDnsLabels) {
  v1::Pipeline p = testing::MinimalPipeline();
  p.set_name("Shop_1");
  p.mutable_stages(0)->set_name("-dev");
  auto problems = Validate(p);
  EXPECT_THAT(problems, Contains(ProblemAt("name", "not a DNS label")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[0].name", "must not start or end")));
}

TEST(ValidationTest, DuplicatesAreReported) {
  v1::Pipeline p = testing::MinimalPipeline();
  p.mutable_stages(1)->set_name("dev");
  *p.mutable_stages(0)->add_resources() = p.stages(0).resources(0);
  auto* steps = p.mutable_stages(0)->mutable_flow()->mutable_sequential();
  *steps->add_steps() = steps->steps(0);
  auto problems = Validate(p);
  EXPECT_THAT(problems, Contains(ProblemAt("stages[1].name", "duplicate stage name \"dev\"")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].resources[1].name", "duplicate resource")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].flow.sequential[1].ref",
                                           "duplicate ref \"deploy\"")));
}

TEST(ValidationTest, ReferencesMustResolve) {
  v1::Pipeline p = Parse(R"(
name: shop
sources: [{name: app, provider: github, repository: acme/shop}]
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [web]}}]
    triggers: [{git: {source: nope, branches: [main]}}]
    flow:
      sequential:
        - {ref: a, deploy: {resource: api}}
        - {ref: b, promote: {resource: web, from_stage: prod}}
        - {ref: c, run_job: {resource: web}}
        - {ref: d, message: {url: "http://x", text: "${refs.zzz.version}"}}
  - name: prod
    resources: [{name: web, driver: process, process: {command: [web]}}]
    flow:
      sequential:
        - {ref: p, promote: {resource: web, from_stage: dev, from_resource: db}}
webhook_triggers: [{name: hook, stage: qa}]
)");
  auto problems = Validate(p);
  EXPECT_THAT(problems,
              Contains(ProblemAt("stages[dev].triggers[0].git.source", "unknown source \"nope\"")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].flow.sequential[0].deploy.resource",
                                           "unknown resource \"api\"")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].flow.sequential[1].promote.from_stage",
                                           "not an earlier stage")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].flow.sequential[2].run_job.resource",
                                           "is a service, not a job")));
  EXPECT_THAT(problems,
              Contains(ProblemAt("stages[dev].flow.sequential[3].message.text", "node \"zzz\"")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[prod].flow.sequential[0].promote.from_resource",
                                           "no resource \"db\"")));
  EXPECT_THAT(problems,
              Contains(ProblemAt("webhook_triggers[hook].stage", "unknown stage \"qa\"")));
}

TEST(ValidationTest, WorkflowsMustNotBeEmpty) {
  v1::Pipeline p = Parse(R"(
name: shop
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [web]}}]
    flow: {sequential: [{parallel: []}]}
  - name: qa
    resources: [{name: web, driver: process, process: {command: [web]}}]
  - name: prod
    resources: [{name: web, driver: process, process: {command: [web]}}]
    flow: {sequential: [{ref: x}]}
)");
  auto problems = Validate(p);
  EXPECT_THAT(problems,
              Contains(ProblemAt("stages[dev].flow.sequential[0].parallel", "at least one step")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[qa].flow", "required")));
  EXPECT_THAT(problems,
              Contains(ProblemAt("stages[prod].flow.sequential[0]", "needs one node kind")));
}

TEST(ValidationTest, BoundsOnRetriesTimeoutsAndApprovals) {
  v1::Pipeline p = Parse(R"(
name: shop
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [web]}}]
    protection: {required_approvals: 11}
    flow:
      sequential:
        - {ref: a, timeout: 48h, retry: {max_attempts: 11, backoff: 2h}, deploy: {resource: web}}
        - {ref: b, approval: {approvals: 99}}
        - {ref: c, sleep: {duration: 25h}}
)");
  // What an API client could send and no file can say.
  p.mutable_stages(0)
      ->mutable_flow()
      ->mutable_sequential()
      ->mutable_steps(1)
      ->mutable_timeout()
      ->set_seconds(-5);
  auto problems = Validate(p);
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].flow.sequential[0].timeout",
                                           "longer than the maximum")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].flow.sequential[0].retry.max_attempts",
                                           "outside 1-10")));
  EXPECT_THAT(problems,
              Contains(ProblemAt("stages[dev].flow.sequential[0].retry.backoff", "longer than")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].flow.sequential[1].timeout",
                                           "must not be negative")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].flow.sequential[1].approval.approvals",
                                           "outside 1-10")));
  EXPECT_THAT(problems,
              Contains(ProblemAt("stages[dev].flow.sequential[2].sleep.duration", "longer than")));
  EXPECT_THAT(problems,
              Contains(ProblemAt("stages[dev].protection.required_approvals", "outside 0-10")));
}

TEST(ValidationTest, GlobAndCronSyntax) {
  v1::Pipeline p = Parse(R"(
name: shop
sources: [{name: app, provider: github, repository: acme/shop}]
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [web]}}]
    triggers:
      - git: {source: app, branches: ["release/[0-9"]}
      - schedule: {cron: "61 * * * *"}
      - {}
    protection: {freeze_windows: [{cron: "0 18 * * fri"}]}
    flow: {sequential: [{ref: a, deploy: {resource: web}}]}
)");
  auto problems = Validate(p);
  EXPECT_THAT(problems,
              Contains(ProblemAt("stages[dev].triggers[0].git.branches[0]", "unterminated '['")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].triggers[1].schedule.cron", "minute: 61")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].triggers[2]", "set git or schedule")));
  EXPECT_THAT(problems,
              Contains(ProblemAt("stages[dev].protection.freeze_windows[0].duration", "required")));
}

TEST(ValidationTest, UnknownExpressionsAreRejected) {
  v1::Pipeline p = testing::MinimalPipeline();
  auto* deploy =
      p.mutable_stages(0)->mutable_flow()->mutable_sequential()->mutable_steps(0)->mutable_deploy();
  deploy->mutable_artifact()->set_version("${secrets.x}");
  deploy->mutable_artifact()->set_image("${frobnicate(trigger.sha)}");
  deploy->mutable_artifact()->set_sha("${trigger.sha");
  auto problems = Validate(p);
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].flow.sequential[0].deploy.artifact.version",
                                           "\"secrets.x\": unknown name")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].flow.sequential[0].deploy.artifact.image",
                                           "unknown function \"frobnicate\"")));
  EXPECT_THAT(problems, Contains(ProblemAt("stages[dev].flow.sequential[0].deploy.artifact.sha",
                                           "unterminated \"${")));
}

TEST(ValidationTest, SizeLimits) {
  v1::Pipeline p = testing::MinimalPipeline();
  p.set_description(std::string(2 << 20, 'x'));
  EXPECT_THAT(Validate(p), Contains(ProblemAt("", "at most 1048576 (1 MiB)")));

  v1::Pipeline many = testing::MinimalPipeline();
  many.mutable_stages()->DeleteSubrange(1, 1);
  for (int i = 1; i < 65; ++i) {
    v1::Stage s = many.stages(0);
    s.set_name(absl::StrCat("s", i));
    s.clear_triggers();
    *many.add_stages() = s;
  }
  EXPECT_THAT(Validate(many), Contains(ProblemAt("stages", "65 stages; at most 64")));

  v1::Pipeline nodes = testing::MinimalPipeline();
  auto* steps = nodes.mutable_stages(0)->mutable_flow()->mutable_sequential();
  for (int i = 0; i < 1000; ++i) {
    v1::Step s = steps->steps(0);
    s.set_ref(absl::StrCat("n", i));
    *steps->add_steps() = s;
  }
  EXPECT_THAT(Validate(nodes), Contains(ProblemAt("", "at most 1000")));
}

TEST(ValidationTest, SecretsNeedASource) {
  v1::Pipeline p = testing::MinimalPipeline();
  p.mutable_sources(0)->mutable_webhook_secret()->Clear();
  p.mutable_sources(0)->mutable_webhook_secret()->set_file("relative/path");
  EXPECT_THAT(Validate(p),
              Contains(ProblemAt("sources[app].webhook_secret.file", "absolute path")));
  p.mutable_sources(0)->mutable_webhook_secret()->Clear();
  p.mutable_sources(0)->mutable_webhook_secret()->set_redacted(true);
  EXPECT_THAT(Validate(p), Contains(ProblemAt("sources[app].webhook_secret", "redacted")));
}

TEST(ValidationTest, AMalformedDurationOrTimeInAFileIsNamedWithItsLine) {
  v1::Pipeline p;
  absl::Status s = ParseYaml(R"(name: shop
stages:
  - name: dev
    flow:
      sequential:
        - {ref: a, deploy: {resource: web}}
        - {ref: b, timeout: soon, approval: {approvals: 1}}
)",
                             &p);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(s.message()),
      HasSubstr("stages[0].flow.sequential[1].timeout (line 7): \"soon\" is not a duration"));
  v1::Pipeline q;
  s = ParseYaml("name: shop\ncreate_time: yesterday\n", &q);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("create_time (line 2): \"yesterday\" is not an RFC 3339 time"));
  // Both forms read back: what a file says and what the JSON mapping prints.
  ASSERT_TRUE(
      ParseYaml("name: shop\ncreate_time: \"2026-12-01T10:00:00.250Z\"\n"
                "sources: [{name: a, poll_interval: 0.250s}, {name: b, poll_interval: 1h30m}]\n",
                &q)
          .ok());
  EXPECT_EQ(q.create_time().nanos(), 250'000'000);
  EXPECT_EQ(q.sources(0).poll_interval().nanos(), 250'000'000);
  EXPECT_EQ(q.sources(1).poll_interval().seconds(), 5400);
}

TEST(ValidationTest, PreviewBlueprintRules) {
  v1::Pipeline p = Parse(R"(
name: shop
sources: [{name: app, provider: github, repository: acme/shop}]
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [web]}}]
    flow: {sequential: [{ref: a, deploy: {resource: web}}]}
preview_blueprints:
  - name: pr
    triggers: [{pull_request: {source: other}}]
    naming: {pr_number: {prefix: "PR_"}}
    budget: {max_active: -1}
    resources: [{name: web, driver: command, command: {apply: []}}]
)");
  p.mutable_preview_blueprints(0)->mutable_lifetime()->mutable_ttl()->set_nanos(2'000'000'000);
  auto problems = Validate(p);
  EXPECT_THAT(problems, Contains(ProblemAt("preview_blueprints[pr].triggers[0].pull_request.source",
                                           "unknown source \"other\"")));
  EXPECT_THAT(problems, Contains(ProblemAt("preview_blueprints[pr].naming", "prefix \"PR_\"")));
  EXPECT_THAT(problems, Contains(ProblemAt("preview_blueprints[pr].lifetime.ttl", "out of range")));
  EXPECT_THAT(problems,
              Contains(ProblemAt("preview_blueprints[pr].budget.max_active", "negative")));
  EXPECT_THAT(problems, Contains(ProblemAt("preview_blueprints[pr].resources[web].command.apply",
                                           "required")));
}

TEST(ValidationTest, ProblemsToStatusListsEveryProblemOnItsOwnLine) {
  std::vector<Problem> problems = {{"a", "bad"}, {"b", "worse"}, {"c", "worst"}};
  EXPECT_THAT(ProblemsToStatus(problems),
              testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                ::testing::StrEq("3 problems:\n  a: bad\n  b: worse\n  c: worst")));
  EXPECT_THAT(ProblemsToStatus({{"a", "bad"}}),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, ::testing::StrEq("a: bad")));
  std::vector<Problem> many(60, Problem{"x", "y"});
  EXPECT_THAT(ProblemsToStatus(many),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("and 10 more")));
  EXPECT_OK(ProblemsToStatus({}));
}

}  // namespace
}  // namespace slipway::pipeline
