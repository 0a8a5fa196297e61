// Small valid pipeline specs for tests, written as the YAML a user would apply.
#ifndef SLIPWAY_TESTS_TESTING_PIPELINES_H_
#define SLIPWAY_TESTS_TESTING_PIPELINES_H_

#include <string>

#include "slipway/v1/pipeline.pb.h"

namespace slipway::testing {

// A two-stage pipeline (dev, prod) named `name`, with a source whose webhook secret is the
// literal `secret`. Parsing cannot fail; a failure aborts the test binary.
v1::Pipeline MinimalPipeline(const std::string& name = "shop",
                             const std::string& secret = "s3cret");

// The text of MinimalPipeline as YAML.
std::string MinimalPipelineYaml(const std::string& name = "shop",
                                const std::string& secret = "s3cret");

// Reads a file below the repository root (examples/, ../shared fixtures are not used here).
std::string ReadRepoFile(const std::string& relative_path);

}  // namespace slipway::testing

#endif  // SLIPWAY_TESTS_TESTING_PIPELINES_H_
