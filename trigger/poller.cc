#include "trigger/poller.h"

#include <git2.h>
#include <spdlog/spdlog.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/duration.h"
#include "common/status_macros.h"
#include "storage/pipeline_repository.h"

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

Libgit2RefLister::Libgit2RefLister() { git_libgit2_init(); }
Libgit2RefLister::~Libgit2RefLister() { git_libgit2_shutdown(); }

absl::StatusOr<std::map<std::string, std::string>> Libgit2RefLister::ListRefs(
    const std::string& url) {
  git_remote* remote = nullptr;
  auto error = [&](const char* what) {
    const git_error* e = git_error_last();
    std::string msg = absl::StrCat(what, " ", url, ": ", e != nullptr ? e->message : "unknown error");
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
    char sha[GIT_OID_HEXSZ + 1];
    git_oid_tostr(sha, sizeof(sha), &heads[i]->oid);
    refs[name] = sha;
  }
  git_remote_disconnect(remote);
  git_remote_free(remote);
  return refs;
}

absl::StatusOr<PollReport> Poller::Tick() {
  PollReport report;
  const absl::Time now = clock_->Now();
  std::vector<v1::Pipeline> pipelines;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(pipelines, storage::PipelineRepository().ListAll(tx));
    return absl::OkStatus();
  }));
  for (const auto& p : pipelines) {
    for (const auto& src : p.sources()) {
      if (src.clone_url().empty() || src.poll_interval().empty()) continue;
      auto interval = ParseDuration(src.poll_interval());
      if (!interval.ok()) continue;
      const std::string key = absl::StrCat(p.name(), "/", src.name(), "@", src.clone_url());
      const int64_t now_ms = absl::ToUnixMillis(now);
      const int64_t next_ms = absl::ToUnixMillis(now + *interval);
      std::optional<int64_t> due;
      bool initialized = false;
      std::map<std::string, std::string> stored;
      RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
        ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT next_poll_ms, initialized FROM "
                                               "poll_schedule WHERE source_key = ?"));
        stmt->Bind(1, key);
        ASSIGN_OR_RETURN(bool row, stmt->Step());
        if (row) {
          due = stmt->ColumnInt(0);
          initialized = stmt->ColumnInt(1) != 0;
        }
        stmt.reset();
        ASSIGN_OR_RETURN(stored, StoredRefs(tx, key));
        return absl::OkStatus();
      }));
      if (due.has_value() && now_ms < *due) continue;
      ++report.polled;
      auto refs = lister_->ListRefs(src.clone_url());
      if (!refs.ok()) {
        // Unreachable is not "deleted": keep what was seen and try again later.
        ++report.unreachable;
        spdlog::warn("polling {}/{}: {}", p.name(), src.name(), std::string(refs.status().message()));
        RETURN_IF_ERROR(db_->Write([&](storage::Transaction& tx) {
          return PostponePoll(tx, key, next_ms);
        }));
        continue;
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
      RETURN_IF_ERROR(db_->Write([&](storage::Transaction& tx) {
        return StoreRefs(tx, key, *refs, next_ms);
      }));
    }
  }
  return report;
}

}  // namespace slipway::trigger
