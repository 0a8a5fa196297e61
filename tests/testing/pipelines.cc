#include "tests/testing/pipelines.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_replace.h"
#include "common/proto_yaml.h"

namespace slipway::testing {

std::string MinimalPipelineYaml(const std::string& name, const std::string& secret) {
  return absl::StrReplaceAll(R"yaml(
name: NAME
description: test pipeline
sources:
  - {name: app, provider: github, repository: acme/shop, webhook_secret: {value: SECRET}}
stages:
  - name: dev
    concurrency: replace
    resources:
      - {name: web, kind: service, driver: process, process: {command: ["web", "--v", "${artifact.version}"]}}
    triggers:
      - git: {source: app, events: [push], branches: ["main"]}
    flow:
      sequential:
        - {ref: deploy, deploy: {resource: web, artifact: {version: "${trigger.sha}"}}}
  - name: prod
    resources:
      - {name: web, kind: service, driver: process, process: {command: ["web"]}}
    flow:
      sequential:
        - {ref: go, approval: {approvals: 1}}
        - {ref: web, promote: {resource: web, from_stage: dev}}
)yaml",
                             {{"NAME", name}, {"SECRET", secret}});
}

v1::Pipeline MinimalPipeline(const std::string& name, const std::string& secret) {
  v1::Pipeline p;
  absl::Status s = ParseYaml(MinimalPipelineYaml(name, secret), &p);
  if (!s.ok()) {
    std::cerr << "MinimalPipeline does not parse: " << s << "\n";
    std::abort();
  }
  return p;
}

std::string ReadRepoFile(const std::string& relative_path) {
  std::ifstream in(std::string(SLIPWAY_SOURCE_DIR) + "/" + relative_path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace slipway::testing
