// The checks every part of pipeline validation uses on single fields (names, durations, secret
// references), collecting problems against field paths.
#ifndef SLIPWAY_PIPELINE_FIELD_CHECKS_H_
#define SLIPWAY_PIPELINE_FIELD_CHECKS_H_

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "pipeline/validation.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::pipeline {

class FieldChecks {
 public:
  void Add(std::string field, std::string message);
  // A DNS label ("web", "pr-12").
  void Name(const std::string& field, const std::string& name);
  // `name` not already in `seen` (empty names are left to Name).
  void Unique(std::set<std::string>& seen, const std::string& field, const std::string& name,
              std::string_view what);
  // Not negative, well formed, at most `max`.
  void Duration(const std::string& field, const google::protobuf::Duration& d, absl::Duration max);
  // Exactly one of env (a variable name), file (an absolute path) or value (not empty).
  void Secret(const std::string& field, const v1::SecretRef& s);

 protected:
  std::vector<Problem> problems_;
};

}  // namespace slipway::pipeline

#endif  // SLIPWAY_PIPELINE_FIELD_CHECKS_H_
