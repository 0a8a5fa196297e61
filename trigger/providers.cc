#include "trigger/providers.h"

#include <simdjson.h>

#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/utf8.h"

namespace slipway::trigger {
namespace {

constexpr size_t kMaxCommits = 100;
constexpr size_t kMaxFiles = 3000;
constexpr size_t kMaxRefChanges = 50;
const std::string kZeroSha(40, '0');

// A read-only view of one value of a parsed payload; a missing value reads as null, so a
// lookup never fails. Valid while the parser that produced it is.
class Json {
 public:
  Json() = default;
  explicit Json(simdjson::dom::element e) : e_(e), present_(true) {}

  bool is_object() const { return present_ && e_.is_object(); }
  bool is_array() const { return present_ && e_.is_array(); }
  bool is_string() const { return present_ && e_.is_string(); }
  bool is_null() const { return !present_ || e_.is_null(); }
  bool is_boolean() const { return present_ && e_.is_bool(); }
  bool is_number_integer() const { return present_ && e_.is_int64(); }

  // The member `key` of an object (null when absent or not an object).
  Json operator[](const char* key) const {
    simdjson::dom::object o;
    simdjson::dom::element v;
    if (!present_ || e_.get(o) != simdjson::SUCCESS || o.at_key(key).get(v) != simdjson::SUCCESS) {
      return Json();
    }
    return Json(v);
  }
  bool contains(const char* key) const { return is_object() && (*this)[key].present_; }
  // The elements of an array (none when not an array).
  std::vector<Json> items() const {
    std::vector<Json> out;
    simdjson::dom::array a;
    if (!present_ || e_.get(a) != simdjson::SUCCESS) return out;
    for (simdjson::dom::element v : a) out.emplace_back(v);
    return out;
  }
  std::string string() const {
    std::string_view v;
    return present_ && e_.get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
  }
  int64_t integer() const {
    int64_t v = 0;
    return present_ && e_.get(v) == simdjson::SUCCESS ? v : 0;
  }
  bool boolean() const {
    bool v = false;
    return present_ && e_.get(v) == simdjson::SUCCESS && v;
  }

 private:
  simdjson::dom::element e_;
  bool present_ = false;
};

Json At(const Json& j, const char* key) { return j[key]; }

std::string Header(const Headers& h, const std::string& name) {
  auto it = h.find(name);
  return it == h.end() ? "" : it->second;
}

std::string Str(const Json& j, std::initializer_list<const char*> path) {
  Json cur = j;
  for (const char* key : path) cur = cur[key];
  if (cur.is_string()) return cur.string();
  if (cur.is_number_integer()) return std::to_string(cur.integer());
  return "";
}

bool Bool(const Json& j, std::initializer_list<const char*> path) {
  Json cur = j;
  for (const char* key : path) cur = cur[key];
  return cur.is_boolean() && cur.boolean();
}

absl::Status Missing(const char* what) {
  return absl::InvalidArgumentError(absl::StrCat("payload has no ", what));
}

bool IsZero(const std::string& sha) { return !sha.empty() && sha.find_first_not_of('0') == std::string::npos; }

void AddCommit(const Json& c, v1::SourceEvent& e) {
  if (static_cast<size_t>(e.commit_messages_size()) < kMaxCommits && c["message"].is_string()) {
    e.add_commit_messages(c["message"].string());
  }
  for (const char* kind : {"added", "modified", "removed"}) {
    for (const Json& f : c[kind].items()) {
      if (f.is_string() && static_cast<size_t>(e.changed_files_size()) < kMaxFiles) {
        e.add_changed_files(f.string());
      }
    }
  }
}

void AddCommits(const Json& commits, v1::SourceEvent& e) {
  for (const Json& c : commits.items()) AddCommit(c, e);
}

// GitHub and Gitea push payloads share their shape.
absl::Status ParsePushLike(const Json& j, v1::SourceEvent& e) {
  std::string ref = Str(j, {"ref"});
  if (ref.empty()) return Missing("ref");
  std::string after = Str(j, {"after"});
  e.set_before(Str(j, {"before"}));
  bool deleted = Bool(j, {"deleted"}) || IsZero(after);
  e.set_created(Bool(j, {"created"}) || IsZero(e.before()));
  if (absl::StartsWith(ref, "refs/tags/")) {
    e.set_tag(ref.substr(10));
    e.set_kind(deleted ? v1::GIT_EVENT_KIND_TAG_DELETED : v1::GIT_EVENT_KIND_TAG);
  } else {
    e.set_branch(absl::StartsWith(ref, "refs/heads/") ? ref.substr(11) : ref);
    e.set_kind(deleted ? v1::GIT_EVENT_KIND_BRANCH_DELETED : v1::GIT_EVENT_KIND_PUSH);
  }
  if (!deleted) e.set_sha(after);
  if (j.contains("commits")) AddCommits(At(j, "commits"), e);
  if (e.commit_messages_size() == 0 && j.contains("head_commit") && At(j, "head_commit").is_object()) {
    // A new branch with no new commits still names its head commit.
    AddCommit(At(j, "head_commit"), e);
  }
  return absl::OkStatus();
}

void ParsePullRequestLike(const Json& j, v1::SourceEvent& e, bool gitea) {
  const Json& pr = At(j, "pull_request");
  auto* info = e.mutable_pull_request();
  info->set_number(j.contains("number") && At(j, "number").is_number_integer()
                       ? At(j, "number").integer()
                       : (pr.contains("number") && At(pr, "number").is_number_integer()
                              ? At(pr, "number").integer()
                              : 0));
  std::string action = Str(j, {"action"});
  bool merged = Bool(pr, {"merged"});
  if (action == "opened") info->set_action(v1::PULL_REQUEST_ACTION_OPENED);
  else if (action == "reopened") info->set_action(v1::PULL_REQUEST_ACTION_REOPENED);
  else if (action == "synchronize" || (gitea && action == "synchronized"))
    info->set_action(v1::PULL_REQUEST_ACTION_SYNCHRONIZED);
  // merge_commit_sha is set on unmerged PRs too (GitHub's test merge): only `merged` decides.
  else if (action == "closed")
    info->set_action(merged ? v1::PULL_REQUEST_ACTION_MERGED : v1::PULL_REQUEST_ACTION_CLOSED);
  else if (action == "labeled") info->set_action(v1::PULL_REQUEST_ACTION_LABELED);
  else info->set_action(v1::PULL_REQUEST_ACTION_EDITED);
  info->set_head_branch(Str(pr, {"head", "ref"}));
  info->set_head_sha(Str(pr, {"head", "sha"}));
  info->set_base_branch(Str(pr, {"base", "ref"}));
  info->set_draft(Bool(pr, {"draft"}));
  info->set_title(Str(pr, {"title"}));
  if (pr.contains("labels") && At(pr, "labels").is_array()) {
    for (const Json& l : At(pr, "labels").items()) {
      std::string name = Str(l, {"name"});
      if (!name.empty()) info->add_labels(name);
    }
  }
  e.set_kind(v1::GIT_EVENT_KIND_PULL_REQUEST);
  e.set_branch(info->head_branch());
  e.set_sha(info->head_sha());
}

absl::Status ParseGitHubLike(const std::string& event, const Json& j, v1::SourceEvent& e,
                             bool gitea) {
  e.set_repository(Str(j, {"repository", "full_name"}));
  e.set_sender(Str(j, {"sender", "login"}));
  if (e.sender().empty()) e.set_sender(Str(j, {"sender", "username"}));
  if (event == "ping") {
    e.set_kind(v1::GIT_EVENT_KIND_PING);
    return absl::OkStatus();
  }
  if (e.repository().empty()) return Missing("repository.full_name");
  if (event == "push") return ParsePushLike(j, e);
  if (event == "pull_request") {
    if (!j.contains("pull_request") || !At(j, "pull_request").is_object()) return Missing("pull_request");
    ParsePullRequestLike(j, e, gitea);
    return absl::OkStatus();
  }
  if (gitea && event == "delete") {
    // Gitea and Forgejo announce a deleted branch or tag with this event instead of a push with
    // an all-zero SHA: `ref` is the bare name, `ref_type` says which. (GitHub sends a push with
    // `deleted: true` besides its own `delete` event, so only the push counts there.)
    std::string ref = Str(j, {"ref"});
    std::string type = Str(j, {"ref_type"});
    if (ref.empty()) return Missing("ref");
    if (absl::StartsWith(ref, "refs/heads/")) ref = ref.substr(11);
    if (absl::StartsWith(ref, "refs/tags/")) {
      ref = ref.substr(10);
      type = "tag";
    }
    if (type == "branch") {
      e.set_kind(v1::GIT_EVENT_KIND_BRANCH_DELETED);
      e.set_branch(ref);
    } else if (type == "tag") {
      e.set_kind(v1::GIT_EVENT_KIND_TAG_DELETED);
      e.set_tag(ref);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("payload ref_type \"", type, "\" is neither branch nor tag"));
    }
    return absl::OkStatus();
  }
  e.set_kind(v1::GIT_EVENT_KIND_OTHER);
  return absl::OkStatus();
}

absl::Status ParseGitLab(const std::string& event, const Json& j, v1::SourceEvent& e) {
  e.set_repository(Str(j, {"project", "path_with_namespace"}));
  e.set_sender(Str(j, {"user_username"}));
  if (e.sender().empty()) e.set_sender(Str(j, {"user", "username"}));
  if (e.repository().empty()) return Missing("project.path_with_namespace");
  if (event == "Push Hook" || event == "Tag Push Hook") {
    std::string ref = Str(j, {"ref"});
    if (ref.empty()) return Missing("ref");
    std::string after = Str(j, {"after"});
    e.set_before(Str(j, {"before"}));
    bool deleted = IsZero(after);
    e.set_created(IsZero(e.before()));
    if (absl::StartsWith(ref, "refs/tags/")) {
      e.set_tag(ref.substr(10));
      e.set_kind(deleted ? v1::GIT_EVENT_KIND_TAG_DELETED : v1::GIT_EVENT_KIND_TAG);
    } else {
      e.set_branch(absl::StartsWith(ref, "refs/heads/") ? ref.substr(11) : ref);
      e.set_kind(deleted ? v1::GIT_EVENT_KIND_BRANCH_DELETED : v1::GIT_EVENT_KIND_PUSH);
    }
    // checkout_sha is the head after the push; commits[-1] may be capped away (GitLab lists
    // at most 20), so it is not used.
    if (!deleted) e.set_sha(Str(j, {"checkout_sha"}).empty() ? after : Str(j, {"checkout_sha"}));
    if (j.contains("commits")) AddCommits(At(j, "commits"), e);
    return absl::OkStatus();
  }
  if (event == "Merge Request Hook") {
    const Json& mr = At(j, "object_attributes");
    if (!mr.is_object()) return Missing("object_attributes");
    auto* info = e.mutable_pull_request();
    info->set_number(mr.contains("iid") && At(mr, "iid").is_number_integer() ? At(mr, "iid").integer() : 0);
    std::string action = Str(mr, {"action"});
    if (action == "open") info->set_action(v1::PULL_REQUEST_ACTION_OPENED);
    else if (action == "reopen") info->set_action(v1::PULL_REQUEST_ACTION_REOPENED);
    // An update is new code only when oldrev is present; otherwise metadata changed.
    else if (action == "update")
      info->set_action(mr.contains("oldrev") ? v1::PULL_REQUEST_ACTION_SYNCHRONIZED
                                             : v1::PULL_REQUEST_ACTION_EDITED);
    else if (action == "close") info->set_action(v1::PULL_REQUEST_ACTION_CLOSED);
    else if (action == "merge") info->set_action(v1::PULL_REQUEST_ACTION_MERGED);
    else info->set_action(v1::PULL_REQUEST_ACTION_EDITED);
    info->set_head_branch(Str(mr, {"source_branch"}));
    info->set_base_branch(Str(mr, {"target_branch"}));
    info->set_head_sha(Str(mr, {"last_commit", "id"}));
    // The head commit's message: skip flags apply to a merge request through it.
    if (std::string message = Str(mr, {"last_commit", "message"}); !message.empty()) {
      e.add_commit_messages(message);
    }
    info->set_draft(Bool(mr, {"draft"}) || Bool(mr, {"work_in_progress"}));
    info->set_title(Str(mr, {"title"}));
    if (j.contains("labels") && At(j, "labels").is_array()) {
      for (const Json& l : At(j, "labels").items()) {
        std::string name = Str(l, {"title"});
        if (!name.empty()) info->add_labels(name);
      }
    }
    e.set_kind(v1::GIT_EVENT_KIND_PULL_REQUEST);
    e.set_branch(info->head_branch());
    e.set_sha(info->head_sha());
    return absl::OkStatus();
  }
  e.set_kind(v1::GIT_EVENT_KIND_OTHER);
  return absl::OkStatus();
}

absl::Status ParseBitbucket(const std::string& event, const Json& j, v1::SourceEvent& e) {
  e.set_repository(Str(j, {"repository", "full_name"}));
  e.set_sender(Str(j, {"actor", "nickname"}));
  if (e.sender().empty()) e.set_sender(Str(j, {"actor", "display_name"}));
  if (e.repository().empty()) return Missing("repository.full_name");
  if (event == "repo:push") {
    const std::vector<Json> changes = At(At(j, "push"), "changes").items();
    if (changes.empty()) return Missing("push.changes");
    // One delivery can carry several ref changes (a push to several branches or tags): the
    // first is the event, the others go to more_refs, each a whole event.
    for (size_t i = 0; i < changes.size() && i < kMaxRefChanges; ++i) {
      const Json& c = changes[i];
      v1::SourceEvent one;
      const Json& side = c.contains("new") && !At(c, "new").is_null() ? At(c, "new") : At(c, "old");
      if (!side.is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat("payload has no push.changes[", i, "].new or .old"));
      }
      bool deleted = Bool(c, {"closed"}) || !c.contains("new") || At(c, "new").is_null();
      one.set_created(Bool(c, {"created"}));
      std::string type = Str(side, {"type"});
      std::string name = Str(side, {"name"});
      if (type == "tag") {
        one.set_tag(name);
        one.set_kind(deleted ? v1::GIT_EVENT_KIND_TAG_DELETED : v1::GIT_EVENT_KIND_TAG);
      } else {
        one.set_branch(name);
        one.set_kind(deleted ? v1::GIT_EVENT_KIND_BRANCH_DELETED : v1::GIT_EVENT_KIND_PUSH);
      }
      if (!deleted) one.set_sha(Str(side, {"target", "hash"}));
      if (c.contains("old") && At(c, "old").is_object()) {
        one.set_before(Str(At(c, "old"), {"target", "hash"}));
      }
      if (c.contains("commits")) AddCommits(At(c, "commits"), one);
      if (one.commit_messages_size() == 0 && !deleted) {
        std::string message = Str(side, {"target", "message"});
        if (!message.empty()) one.add_commit_messages(message);
      }
      one.set_provider(e.provider());
      one.set_event(e.event());
      one.set_repository(e.repository());
      one.set_sender(e.sender());
      if (i == 0) {
        e = std::move(one);
      } else {
        *e.add_more_refs() = std::move(one);
      }
    }
    return absl::OkStatus();
  }
  if (absl::StartsWith(event, "pullrequest:")) {
    const Json& pr = At(j, "pullrequest");
    if (!pr.is_object()) return Missing("pullrequest");
    auto* info = e.mutable_pull_request();
    info->set_number(pr.contains("id") && At(pr, "id").is_number_integer() ? At(pr, "id").integer() : 0);
    std::string what = event.substr(12);
    if (what == "created") info->set_action(v1::PULL_REQUEST_ACTION_OPENED);
    else if (what == "updated") info->set_action(v1::PULL_REQUEST_ACTION_SYNCHRONIZED);
    else if (what == "fulfilled") info->set_action(v1::PULL_REQUEST_ACTION_MERGED);
    else if (what == "rejected") info->set_action(v1::PULL_REQUEST_ACTION_CLOSED);
    else info->set_action(v1::PULL_REQUEST_ACTION_EDITED);
    info->set_head_branch(Str(pr, {"source", "branch", "name"}));
    // Bitbucket sends 12-character abbreviated hashes; they are kept as sent.
    info->set_head_sha(Str(pr, {"source", "commit", "hash"}));
    info->set_base_branch(Str(pr, {"destination", "branch", "name"}));
    info->set_title(Str(pr, {"title"}));
    info->set_draft(Bool(pr, {"draft"}));
    e.set_kind(v1::GIT_EVENT_KIND_PULL_REQUEST);
    e.set_branch(info->head_branch());
    e.set_sha(info->head_sha());
    return absl::OkStatus();
  }
  e.set_kind(v1::GIT_EVENT_KIND_OTHER);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Provider> ProviderFromName(std::string_view name) {
  if (name == "github") return v1::PROVIDER_GITHUB;
  if (name == "gitlab") return v1::PROVIDER_GITLAB;
  if (name == "gitea" || name == "forgejo") return v1::PROVIDER_GITEA;
  if (name == "bitbucket") return v1::PROVIDER_BITBUCKET;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown provider \"", std::string(name), "\" (github, gitlab, gitea, bitbucket)"));
}

namespace {

// The binding part of a delivery: the repository (and whether it is a ping), nothing else.
absl::Status ParseBinding(v1::Provider provider, const std::string& event, const Json& j,
                          v1::SourceEvent& e) {
  const bool gitlab = provider == v1::PROVIDER_GITLAB;
  e.set_repository(gitlab ? Str(j, {"project", "path_with_namespace"})
                          : Str(j, {"repository", "full_name"}));
  if (!gitlab && provider != v1::PROVIDER_BITBUCKET && event == "ping") {
    e.set_kind(v1::GIT_EVENT_KIND_PING);
    return absl::OkStatus();
  }
  if (e.repository().empty()) {
    return Missing(gitlab ? "project.path_with_namespace" : "repository.full_name");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::SourceEvent> Parse(v1::Provider provider, const Headers& headers,
                                      std::string_view body, bool binding_only) {
  const char* event_header = provider == v1::PROVIDER_GITHUB  ? "x-github-event"
                             : provider == v1::PROVIDER_GITLAB ? "x-gitlab-event"
                             : provider == v1::PROVIDER_GITEA  ? "x-gitea-event"
                                                               : "x-event-key";
  std::string event = Header(headers, event_header);
  if (provider == v1::PROVIDER_GITEA && event.empty()) event = Header(headers, "x-gogs-event");
  if (event.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("missing header ", event_header));
  }
  // A parser keeps its buffers for the next document: one per thread for ordinary payloads, a
  // fresh one (freed after) for large ones, so a few huge deliveries do not pin memory.
  constexpr size_t kReusedUpTo = 1 << 20;
  thread_local simdjson::dom::parser reused;
  std::unique_ptr<simdjson::dom::parser> once;
  simdjson::dom::parser* parser = &reused;
  if (body.size() > kReusedUpTo) {
    once = std::make_unique<simdjson::dom::parser>();
    parser = once.get();
  }
  simdjson::dom::element root;
  if (parser->parse(simdjson::padded_string(body)).get(root) != simdjson::SUCCESS ||
      !root.is_object()) {
    return absl::InvalidArgumentError("body is not a JSON object");
  }
  const Json j(root);
  v1::SourceEvent e;
  e.set_provider(provider);
  e.set_event(event);
  absl::Status s;
  if (binding_only) {
    s = ParseBinding(provider, event, j, e);
    if (!s.ok()) return s;
    return e;
  }
  switch (provider) {
    case v1::PROVIDER_GITHUB:
      s = ParseGitHubLike(event, j, e, /*gitea=*/false);
      break;
    case v1::PROVIDER_GITEA:
      s = ParseGitHubLike(event, j, e, /*gitea=*/true);
      break;
    case v1::PROVIDER_GITLAB:
      s = ParseGitLab(event, j, e);
      break;
    case v1::PROVIDER_BITBUCKET:
      s = ParseBitbucket(event, j, e);
      break;
    default:
      return absl::InvalidArgumentError("unknown provider");
  }
  if (!s.ok()) return s;
  return e;
}

}  // namespace

absl::StatusOr<v1::SourceEvent> ParseDelivery(v1::Provider provider, const Headers& headers,
                                           std::string_view body) {
  return Parse(provider, headers, body, /*binding_only=*/false);
}

absl::StatusOr<v1::SourceEvent> ParseBinding(v1::Provider provider, const Headers& headers,
                                          std::string_view body) {
  return Parse(provider, headers, body, /*binding_only=*/true);
}

std::string DeliveryId(v1::Provider provider, const Headers& headers, std::string_view body) {
  const char* name = provider == v1::PROVIDER_GITHUB  ? "x-github-delivery"
                     : provider == v1::PROVIDER_GITLAB ? "idempotency-key"
                     : provider == v1::PROVIDER_GITEA  ? "x-gitea-delivery"
                                                       : "x-request-uuid";
  std::string id = Header(headers, name);
  if (!id.empty() && id.size() <= 200 && IsValidUtf8(id)) return id;
  return "sha256:" + Sha256Hex(body);
}

v1::SignatureVerdict VerifySignature(v1::Provider provider, const Headers& headers,
                                     std::string_view body, std::string_view secret) {
  if (secret.empty()) return v1::SIGNATURE_VERDICT_NOT_REQUIRED;
  std::string given;
  std::string expected;
  switch (provider) {
    case v1::PROVIDER_GITLAB:
      given = Header(headers, "x-gitlab-token");
      expected = std::string(secret);
      break;
    case v1::PROVIDER_GITEA:
      given = Header(headers, "x-gitea-signature");
      expected = HmacSha256Hex(secret, body);
      break;
    case v1::PROVIDER_GITHUB:
      given = Header(headers, "x-hub-signature-256");
      expected = "sha256=" + HmacSha256Hex(secret, body);
      break;
    case v1::PROVIDER_BITBUCKET:
      given = Header(headers, "x-hub-signature");
      expected = "sha256=" + HmacSha256Hex(secret, body);
      break;
    default:
      return v1::SIGNATURE_VERDICT_INVALID;
  }
  if (given.empty()) return v1::SIGNATURE_VERDICT_MISSING;
  if (provider != v1::PROVIDER_GITLAB) given = absl::AsciiStrToLower(given);
  return ConstantTimeEquals(given, expected) ? v1::SIGNATURE_VERDICT_VALID
                                             : v1::SIGNATURE_VERDICT_INVALID;
}

Headers RedactHeaders(const Headers& headers) {
  Headers out;
  for (const auto& [k, v] : headers) {
    if (k == "x-hub-signature-256" || k == "x-hub-signature" || k == "x-gitea-signature" ||
        k == "x-gogs-signature" || k == "x-gitlab-token" || k == "authorization" ||
        k == "cookie" || k == "x-slipway-signature-256" || k == "proxy-authorization") {
      continue;
    }
    if (out.size() >= kMaxRecordedHeaders) break;
    out[SanitizeText(k, kMaxRecordedHeaderName)] = SanitizeText(v, kMaxRecordedHeaderValue);
  }
  return out;
}

}  // namespace slipway::trigger
