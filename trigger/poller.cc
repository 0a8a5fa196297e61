#include "trigger/poller.h"

#include <git2.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/private_files.h"
#include "common/proto_time.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "storage/pipeline_repository.h"
#include "trigger/git2_util.h"

namespace slipway::trigger {
namespace {

absl::StatusOr<std::map<std::string, std::string>> StoredRefs(storage::Transaction& tx,
                                                              const std::string& key) {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT ref, sha FROM polled_refs WHERE source_key = ?"));
  stmt->Bind(1, key);
  std::map<std::string, std::string> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    out[stmt->ColumnText(0)] = stmt->ColumnText(1);
  }
  return out;
}

absl::Status StoreRefs(storage::Transaction& tx, const std::string& key,
                       const std::map<std::string, std::string>& refs, int64_t next_ms) {
  {
    ASSIGN_OR_RETURN(auto del, tx.Prepare("DELETE FROM polled_refs WHERE source_key = ?"));
    del->Bind(1, key);
    RETURN_IF_ERROR(del->Run());
  }
  for (const auto& [ref, sha] : refs) {
    ASSIGN_OR_RETURN(auto ins, tx.Prepare("INSERT INTO polled_refs (source_key, ref, sha) "
                                          "VALUES (?, ?, ?)"));
    ins->Bind(1, key).Bind(2, ref).Bind(3, sha);
    RETURN_IF_ERROR(ins->Run());
  }
  ASSIGN_OR_RETURN(auto sched, tx.Prepare("INSERT INTO poll_schedule (source_key, next_poll_ms, "
                                          "initialized) VALUES (?, ?, 1) ON CONFLICT "
                                          "(source_key) DO UPDATE SET next_poll_ms = "
                                          "excluded.next_poll_ms, initialized = 1"));
  sched->Bind(1, key).Bind(2, next_ms);
  return sched->Run();
}

absl::Status PostponePoll(storage::Transaction& tx, const std::string& key, int64_t next_ms) {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO poll_schedule (source_key, next_poll_ms, "
                                         "initialized) VALUES (?, ?, 0) ON CONFLICT "
                                         "(source_key) DO UPDATE SET next_poll_ms = "
                                         "excluded.next_poll_ms"));
  stmt->Bind(1, key).Bind(2, next_ms);
  return stmt->Run();
}

}  // namespace

Libgit2RefLister::Libgit2RefLister(std::string mirror_dir) : mirror_dir_(std::move(mirror_dir)) {
  git_libgit2_init();
}
Libgit2RefLister::~Libgit2RefLister() { git_libgit2_shutdown(); }

absl::StatusOr<std::map<std::string, std::string>> Libgit2RefLister::ListRefs(
    const std::string& url) {
  git_remote* remote = nullptr;
  auto error = [&](const char* what) {
    const git_error* e = git_error_last();
    std::string msg =
        absl::StrCat(what, " ", url, ": ", e != nullptr ? e->message : "unknown error");
    if (remote != nullptr) git_remote_free(remote);
    return absl::UnavailableError(msg);
  };
  if (git_remote_create_detached(&remote, url.c_str()) != 0) return error("cannot open");
  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  if (git_remote_connect(remote, GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr) != 0) {
    return error("cannot reach");
  }
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  if (git_remote_ls(&heads, &count, remote) != 0) return error("cannot list");
  std::map<std::string, std::string> refs;
  for (size_t i = 0; i < count; ++i) {
    std::string name = heads[i]->name;
    if (!absl::StartsWith(name, "refs/heads/") && !absl::StartsWith(name, "refs/tags/")) continue;
    if (absl::EndsWith(name, "^{}")) continue;  // peeled tag entries
    refs[name] = OidHex(&heads[i]->oid);
  }
  git_remote_disconnect(remote);
  git_remote_free(remote);
  return refs;
}

namespace {

constexpr size_t kMaxFiles = 3000;
constexpr int kMaxPolledCommits = 100;

// The commit `sha` names (a tag is peeled), or null when the mirror lacks it.
CommitPtr PeeledCommit(git_repository* repo, const std::string& sha) {
  git_oid oid;
  if (sha.empty() || git_oid_fromstr(&oid, sha.c_str()) != 0) return nullptr;
  git_object* obj = nullptr;
  if (git_object_lookup(&obj, repo, &oid, GIT_OBJECT_ANY) != 0) return nullptr;
  ObjectPtr owned(obj);
  git_object* peeled = nullptr;
  if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) != 0) return nullptr;
  return CommitPtr(reinterpret_cast<git_commit*>(peeled));
}

// Adds the paths `commit` changes against its first parent (all of its files for a root).
absl::Status AddChangedFiles(git_repository* repo, git_commit* commit,
                             std::vector<std::string>& files) {
  git_tree* tree = nullptr;
  if (git_commit_tree(&tree, commit) != 0) return absl::InternalError(Git2Error("tree"));
  TreePtr owned_tree(tree);
  TreePtr parent_tree;
  if (git_commit_parentcount(commit) > 0) {
    git_commit* parent = nullptr;
    if (git_commit_parent(&parent, commit, 0) == 0) {
      CommitPtr owned_parent(parent);
      git_tree* pt = nullptr;
      if (git_commit_tree(&pt, parent) == 0) parent_tree.reset(pt);
    }
  }
  git_diff* diff = nullptr;
  if (git_diff_tree_to_tree(&diff, repo, parent_tree.get(), tree, nullptr) != 0) {
    return absl::InternalError(Git2Error("diff"));
  }
  DiffPtr owned_diff(diff);
  for (size_t i = 0; i < git_diff_num_deltas(diff) && files.size() < kMaxFiles; ++i) {
    const git_diff_delta* d = git_diff_get_delta(diff, i);
    const char* path = d->status == GIT_DELTA_DELETED ? d->old_file.path : d->new_file.path;
    if (path != nullptr) files.emplace_back(path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CommitChanges> Libgit2RefLister::DescribeChange(
    const std::string& url, const std::string& before, const std::string& after,
    const std::vector<std::string>& known, int max_commits) {
  if (mirror_dir_.empty()) return absl::UnimplementedError("no mirror dir to read commits from");
  absl::MutexLock lock(&mu_);
  const std::string path = absl::StrCat(mirror_dir_, "/", Sha256Hex(url).substr(0, 24), ".git");
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, path.c_str()) != 0) {
    // Mirrors hold the repositories' history: private to slipwayd's user.
    if (absl::Status s = MakePrivateDir(mirror_dir_); !s.ok()) return s;
    if (git_repository_init(&raw, path.c_str(), /*is_bare=*/1) != 0) {
      return absl::InternalError(Git2Error("cannot create the mirror " + path));
    }
  }
  RepoPtr repo(raw);
  CommitPtr head = PeeledCommit(repo.get(), after);
  if (head == nullptr) {
    // Fetch every branch and tag into the mirror: the new commits and, for later changes,
    // what they are compared with.
    // An anonymous remote, as the listing uses: no url.*.insteadOf rewriting from Git config
    // (which also leaks in libgit2 1.5).
    git_remote* remote = nullptr;
    git_remote_create_options create = GIT_REMOTE_CREATE_OPTIONS_INIT;
    create.repository = repo.get();
    create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if (git_remote_create_with_opts(&remote, url.c_str(), &create) != 0) {
      return absl::UnavailableError(Git2Error("cannot open " + url));
    }
    RemotePtr owned_remote(remote);
    char heads[] = "+refs/heads/*:refs/heads/*";
    char tags[] = "+refs/tags/*:refs/tags/*";
    char* specs[] = {heads, tags};
    git_strarray refspecs{specs, 2};
    git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
    options.prune = GIT_FETCH_PRUNE;
    options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    if (git_remote_fetch(remote, &refspecs, &options, "slipway poll") != 0) {
      return absl::UnavailableError(Git2Error("cannot fetch " + url));
    }
    head = PeeledCommit(repo.get(), after);
    if (head == nullptr) {
      return absl::UnavailableError(absl::StrCat(url, " has no commit ", after));
    }
  }
  git_revwalk* raw_walk = nullptr;
  if (git_revwalk_new(&raw_walk, repo.get()) != 0) return absl::InternalError(Git2Error("revwalk"));
  WalkPtr walk(raw_walk);
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
  if (git_revwalk_push(walk.get(), git_commit_id(head.get())) != 0) {
    return absl::InternalError(Git2Error("revwalk"));
  }
  // What was there before is not new; a tip the mirror lacks (rewritten away) hides nothing.
  for (const std::string& old : before.empty() ? known : std::vector<std::string>{before}) {
    if (CommitPtr c = PeeledCommit(repo.get(), old); c != nullptr) {
      git_revwalk_hide(walk.get(), git_commit_id(c.get()));
    }
  }
  CommitChanges out;
  git_oid oid;
  for (int n = 0; n < max_commits && git_revwalk_next(&oid, walk.get()) == 0; ++n) {
    git_commit* raw_commit = nullptr;
    if (git_commit_lookup(&raw_commit, repo.get(), &oid) != 0) break;
    CommitPtr commit(raw_commit);
    if (const char* m = git_commit_message(commit.get()); m != nullptr)
      out.messages.emplace_back(m);
    if (out.files.size() < kMaxFiles)
      RETURN_IF_ERROR(AddChangedFiles(repo.get(), commit.get(), out.files));
  }
  std::sort(out.files.begin(), out.files.end());
  out.files.erase(std::unique(out.files.begin(), out.files.end()), out.files.end());
  return out;
}

namespace {

std::string SourceKey(const std::string& pipeline, const v1::Source& src) {
  return absl::StrCat(pipeline, "/", src.name(), "@", src.clone_url());
}

}  // namespace

absl::Status Poller::Sync() {
  // Asked before the store is read: whatever commits meanwhile is seen again next time.
  storage::ChangeFeed::Changes changes = db_->pipeline_changes().Since(feed_next_);
  if (!changes.everything && changes.keys.empty()) return absl::OkStatus();
  std::map<std::string, Entry> found;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<v1::Pipeline> pipelines, ChangedPipelines(tx, changes));
    for (const auto& p : pipelines) {
      for (const auto& src : p.sources()) {
        if (src.clone_url().empty() || !src.has_poll_interval()) continue;
        const absl::Duration interval = DurationFromProto(src.poll_interval());
        if (interval <= absl::ZeroDuration()) continue;
        const std::string key = SourceKey(p.name(), src);
        Entry entry{p.name(), src.name(), src.clone_url(), interval, 0};
        // Polled first at once, unless the store says when.
        ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT next_poll_ms FROM poll_schedule WHERE "
                                               "source_key = ?"));
        stmt->Bind(1, key);
        ASSIGN_OR_RETURN(bool row, stmt->Step());
        if (row) entry.next_ms = stmt->ColumnInt(0);
        found[key] = std::move(entry);
      }
    }
    return absl::OkStatus();
  }));
  index_.Replace(changes, std::move(found));
  feed_next_ = changes.next;
  return absl::OkStatus();
}

absl::StatusOr<PollReport> Poller::Tick() {
  PollReport report;
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Sync());
  const absl::Time now = clock_->Now();
  for (const std::string& key : index_.DueAt(absl::ToUnixMillis(now))) {
    if (index_.Find(key) != nullptr) RETURN_IF_ERROR(Poll(key, now, report));
  }
  return report;
}

int Poller::Scheduled() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(index_.size());
}

absl::Status Poller::Poll(const std::string& key, absl::Time now, PollReport& report) {
  Entry& entry = *index_.Find(key);
  const int64_t next_ms = absl::ToUnixMillis(now + entry.interval);
  std::optional<v1::Pipeline> pipeline;
  bool initialized = false;
  std::map<std::string, std::string> stored;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    auto p = storage::PipelineRepository().Get(tx, entry.pipeline);
    if (p.ok()) {
      pipeline = *std::move(p);
    } else if (!absl::IsNotFound(p.status())) {
      return p.status();
    }
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT initialized FROM poll_schedule WHERE "
                                           "source_key = ?"));
    stmt->Bind(1, key);
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (row) initialized = stmt->ColumnInt(0) != 0;
    stmt.reset();
    ASSIGN_OR_RETURN(stored, StoredRefs(tx, key));
    return absl::OkStatus();
  }));
  const v1::Source* found = nullptr;
  if (pipeline.has_value()) {
    for (const auto& s : pipeline->sources()) {
      if (SourceKey(pipeline->name(), s) == key) found = &s;
    }
  }
  if (found == nullptr) {
    // Changed since it was scheduled: the change feed brings the new version next time.
    index_.Erase(key);
    return absl::OkStatus();
  }
  const v1::Pipeline& p = *pipeline;
  const v1::Source& src = *found;
  ++report.polled;
  auto refs = lister_->ListRefs(src.clone_url());
  if (!refs.ok()) {
    // Unreachable is not "deleted": keep what was seen and try again later.
    ++report.unreachable;
    spdlog::warn("polling {}/{}: {}", p.name(), src.name(), std::string(refs.status().message()));
    RETURN_IF_ERROR(
        db_->Write([&](storage::Transaction& tx) { return PostponePoll(tx, key, next_ms); }));
    index_.SetNext(key, next_ms);
    return absl::OkStatus();
  }
  if (initialized) {
    auto dispatch = [&](v1::SourceEvent e, const std::string& ref, const std::string& sha) {
      e.set_provider(src.provider());
      e.set_repository(src.repository());
      e.set_event("poll");
      e.set_sender("poller");
      intake_->HandleEvent(e, absl::StrCat("poll:", key, ":", ref, ":", sha), {p});
      ++report.events;
    };
    // What the last poll saw: commits reachable from these are not new.
    std::vector<std::string> known_tips;
    known_tips.reserve(stored.size());
    for (const auto& [ref, tip] : stored) known_tips.push_back(tip);
    for (const auto& [ref, sha] : *refs) {
      auto old = stored.find(ref);
      if (old != stored.end() && old->second == sha) continue;
      v1::SourceEvent e;
      if (absl::StartsWith(ref, "refs/heads/")) {
        e.set_kind(v1::GIT_EVENT_KIND_PUSH);
        e.set_branch(ref.substr(11));
        e.set_created(old == stored.end());
        if (old != stored.end()) e.set_before(old->second);
      } else if (old == stored.end()) {
        e.set_kind(v1::GIT_EVENT_KIND_TAG);
        e.set_tag(ref.substr(10));
      } else {
        continue;  // a moved tag is not a release event
      }
      e.set_sha(sha);
      // The new commits' messages and files, so skip flags and path rules apply. A tag
      // carries its commit's message. Without them the change still acts (unfiltered).
      auto changes = e.tag().empty() ? lister_->DescribeChange(src.clone_url(), e.before(), sha,
                                                               known_tips, kMaxPolledCommits)
                                     : lister_->DescribeChange(src.clone_url(), "", sha, {}, 1);
      if (changes.ok()) {
        for (auto& m : changes->messages) e.add_commit_messages(std::move(m));
        for (auto& f : changes->files) e.add_changed_files(std::move(f));
      } else if (!absl::IsUnimplemented(changes.status())) {
        spdlog::warn("polling {}/{}: commits of {}: {}", p.name(), src.name(), ref,
                     std::string(changes.status().message()));
      }
      dispatch(e, ref, sha);
    }
    for (const auto& [ref, sha] : stored) {
      if (refs->contains(ref)) continue;
      v1::SourceEvent e;
      if (absl::StartsWith(ref, "refs/heads/")) {
        e.set_kind(v1::GIT_EVENT_KIND_BRANCH_DELETED);
        e.set_branch(ref.substr(11));
      } else {
        e.set_kind(v1::GIT_EVENT_KIND_TAG_DELETED);
        e.set_tag(ref.substr(10));
      }
      e.set_before(sha);
      dispatch(e, ref, "deleted-" + sha);
    }
  }
  RETURN_IF_ERROR(
      db_->Write([&](storage::Transaction& tx) { return StoreRefs(tx, key, *refs, next_ms); }));
  index_.SetNext(key, next_ms);
  return absl::OkStatus();
}

}  // namespace slipway::trigger
