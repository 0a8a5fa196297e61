// Field-by-field differences between two messages of one type (two pipeline revisions, a stored
// pipeline and the spec an apply would store), with secret values never shown.
#ifndef SLIPWAY_PIPELINE_SPEC_DIFF_H_
#define SLIPWAY_PIPELINE_SPEC_DIFF_H_

#include <string>
#include <vector>

#include "google/protobuf/message.h"

namespace slipway::pipeline {

struct FieldDiff {
  // "stages[prod].flow.sequential.steps[0].deploy.artifact.version", "argument_overrides[region]".
  std::string path;
  // The values as one-line text (a message as its JSON); empty when the field is not set on
  // that side. A secret value, or a message holding one, shows "***" where the secret is.
  std::string before;
  std::string after;
};

// Every leaf that differs, in field order. List items that have a `name` are matched by it
// (their order is reported as "<list> (order)" when only it changed); other lists by position;
// maps by key. Fields numbered 100 or more (output-only metadata) are skipped at the top.
std::vector<FieldDiff> DiffSpecs(const google::protobuf::Message& before,
                                 const google::protobuf::Message& after);

}  // namespace slipway::pipeline

#endif  // SLIPWAY_PIPELINE_SPEC_DIFF_H_
