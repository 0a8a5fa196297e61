// Which previews a Git event concerns: pure functions of the blueprint and the event, used by
// PreviewManager::HandleEvent (defined in matching.cc with them).
#ifndef SLIPWAY_PREVIEW_MATCHING_H_
#define SLIPWAY_PREVIEW_MATCHING_H_

#include <cstdint>
#include <optional>
#include <string>

#include "slipway/v1/delivery.pb.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::preview {

// The subject key of a pull request or branch of `source`: "app/pr:12", "app/branch:main".
std::string SubjectKey(const std::string& source, int64_t pull_request, const std::string& branch);

// The pipeline's blueprint `name`, or null.
const v1::PreviewBlueprint* FindBlueprint(const v1::Pipeline& pipeline, const std::string& name);

// What a Git event says of the pull request or branch it is about.
struct EventSubject {
  bool is_pr = false;
  bool is_push = false;
  bool is_delete = false;  // branch deleted
  bool closing = false;    // pull request closed or merged
  std::string branch;
  std::string key;  // SubjectKey
};
// Nullopt for events previews do not follow (tags, releases, ...).
std::optional<EventSubject> SubjectOf(const v1::Source& source, const v1::SourceEvent& event);

struct BlueprintMatch {
  bool concerned = false;  // one of the blueprint's triggers is about this source and event
  bool matched = false;    // and its rules accept it
  std::string why_not;     // when concerned but not matched: the last rule that refused
};
BlueprintMatch MatchBlueprint(const v1::PreviewBlueprint& blueprint, const v1::Source& source,
                              const v1::SourceEvent& event, const EventSubject& subject);

}  // namespace slipway::preview

#endif  // SLIPWAY_PREVIEW_MATCHING_H_
