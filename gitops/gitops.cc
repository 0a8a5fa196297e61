#include "gitops/gitops.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/names.h"
#include "common/proto_time.h"
#include "common/proto_yaml.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "pipeline/secrets.h"
#include "storage/pipeline_repository.h"

namespace slipway::gitops {
namespace {

constexpr size_t kMaxErrors = 50;
constexpr size_t kMaxSummaryBytes = 200;

std::string Short(const std::string& sha) { return sha.substr(0, 12); }

const v1::Source* FindSource(const v1::Pipeline& p, const std::string& name) {
  for (const auto& s : p.sources()) {
    if (s.name() == name) return &s;
  }
  return nullptr;
}

// The first line of a commit message, bounded and valid UTF-8, as a revision's message.
std::string RevisionMessage(const std::string& summary) {
  std::string out = summary.substr(0, kMaxSummaryBytes);
  while (!out.empty() && !IsValidUtf8(out)) out.pop_back();
  return out;
}

// Who a commit Slipway writes is by: the token's description (its id if it has none).
CommitAuthor CommitAuthorOf(const pipeline::Author& author) {
  return {author.description.empty() ? author.actor : author.description,
          absl::StrCat(author.actor.empty() ? "slipway" : author.actor, "@slipway")};
}

}  // namespace

std::string RenderPipelineFile(const v1::Pipeline& spec, const std::string& file_name) {
  v1::Pipeline file = pipeline::SpecOf(spec);
  file.clear_argument_overrides();
  file.clear_secret_argument_overrides();
  pipeline::RedactSecrets(&file);
  file.set_name(file_name);
  return absl::StrCat(
      "# Kept in sync with Slipway: edits here are applied on push, edits through Slipway are\n"
      "# committed here. Secret values and argument overrides stay in Slipway.\n",
      ToYaml(file));
}

GitOps::GitOps(storage::Database* db, pipeline::PipelineManager* pipelines, GitFiles* git,
               const Clock* clock, storage::AuditLog* audit, GitOpsOptions options)
    : db_(db), pipelines_(pipelines), git_(git), clock_(clock), audit_(audit), options_(options) {}

bool GitOps::MaybeBound(const std::string& name) {
  absl::MutexLock lock(&names_mu_);
  if (!names_loaded_) {
    std::vector<v1::GitOpsBinding> all;
    absl::Status read = db_->Read([&](storage::Transaction& tx) -> absl::Status {
      ASSIGN_OR_RETURN(all, bindings_.List(tx));
      return absl::OkStatus();
    });
    if (!read.ok()) return true;  // unknown: ask the store each time until it answers
    for (const auto& b : all) names_.insert(b.pipeline());
    names_loaded_ = true;
  }
  return names_.contains(name);
}

void GitOps::NoteBound(const std::string& name, bool bound) {
  absl::MutexLock lock(&names_mu_);
  if (bound) {
    names_.insert(name);
  } else {
    names_.erase(name);
  }
}

void GitOps::MarkSynced(v1::GitOpsBinding& binding, const std::string& sha,
                        const std::string& blob) const {
  binding.set_state(v1::GITOPS_STATE_SYNCED);
  binding.set_sha(sha);
  binding.set_synced_sha(sha);
  binding.set_blob(blob);
  binding.set_status(absl::StrCat("synced at ", Short(sha)));
  binding.clear_errors();
  *binding.mutable_update_time() = ProtoTime(clock_->Now());
}

void GitOps::MarkWrittenBack(v1::GitOpsBinding& binding,
                             const pipeline::WrittenBack& written) const {
  MarkSynced(binding, written.sha, written.blob);
  if (written.push_attempts > 1) {
    absl::StrAppend(binding.mutable_status(), " (written back after ", written.push_attempts,
                    " push attempts)");
  }
}

void GitOps::Audit(const std::string& action, const v1::GitOpsBinding& binding,
                   const absl::Status& outcome) {
  if (audit_ == nullptr) return;
  v1::AuditRecord r;
  r.set_actor_kind(v1::ACTOR_KIND_SYSTEM);
  r.set_actor(absl::StrCat("git:", binding.source(), "@", binding.branch()));
  r.set_action(action);
  r.set_target(binding.pipeline());
  r.set_outcome(outcome.ok() ? binding.status() : storage::OutcomeOf(outcome));
  audit_->Record(std::move(r)).IgnoreError();  // logged by Record
}

absl::Status GitOps::Load(const std::string& name, v1::GitOpsBinding& binding, std::string& url) {
  return db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(binding, bindings_.Get(tx, name));
    ASSIGN_OR_RETURN(v1::Pipeline p, storage::PipelineRepository().Get(tx, name));
    const v1::Source* src = FindSource(p, binding.source());
    if (src == nullptr || src->clone_url().empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("pipeline \"", name, "\" has no source \"", binding.source(),
                       "\" with a clone_url any more; bind it again (slipway gitops enable)"));
    }
    url = src->clone_url();
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::GitOpsBinding> GitOps::Enable(const v1::EnableGitOpsRequest& request,
                                                 const pipeline::Author& author) {
  if (absl::Status s = CheckDnsLabel(request.pipeline()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline: ", s.message()));
  }
  if (absl::Status s = CheckDnsLabel(request.source()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("source: ", s.message()));
  }
  v1::GitOpsBinding binding;
  binding.set_pipeline(request.pipeline());
  binding.set_source(request.source());
  binding.set_branch(request.branch().empty() ? "main" : request.branch());
  binding.set_path(request.path().empty() ? absl::StrCat(".slipway/", request.pipeline(), ".yaml")
                                          : request.path());
  RETURN_IF_ERROR(CheckBranchName("branch", binding.branch()));
  RETURN_IF_ERROR(CheckFilePath("path", binding.path()));
  absl::MutexLock lock(&mu_);
  // Under mu_, like Disable's removal of the name.
  MaybeBound(request.pipeline());  // loaded before the name is added
  NoteBound(request.pipeline(), true);
  std::string url;
  v1::Pipeline current;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(current, storage::PipelineRepository().Get(tx, request.pipeline()));
    const v1::Source* src = FindSource(current, request.source());
    if (src == nullptr) {
      std::vector<std::string> names;
      for (const auto& s : current.sources()) names.push_back(s.name());
      return absl::InvalidArgumentError(
          absl::StrCat("source: pipeline \"", request.pipeline(), "\" has no source \"",
                       request.source(), "\" (sources: ", absl::StrJoin(names, ", "), ")"));
    }
    if (src->clone_url().empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("source: \"", request.source(),
                       "\" has no clone_url; Slipway reads and writes the file through it"));
    }
    url = src->clone_url();
    auto existing = bindings_.Get(tx, request.pipeline());
    if (existing.ok() && existing->source() == binding.source() &&
        existing->branch() == binding.branch() && existing->path() == binding.path()) {
      binding = *std::move(existing);  // enabling again re-syncs
    } else if (!existing.ok() && !absl::IsNotFound(existing.status())) {
      return existing.status();
    }
    return absl::OkStatus();
  }));
  ASSIGN_OR_RETURN(std::string head, git_->Fetch(url, binding.branch()));
  ASSIGN_OR_RETURN(FileAt file, git_->Read(url, head, binding.path()));
  if (!file.found) {
    // Nothing there yet: the current spec becomes the file.
    const std::string contents = RenderPipelineFile(current, current.name());
    const std::string message =
        absl::StrCat("Add ", binding.path(), " for Slipway pipeline ", current.name());
    ASSIGN_OR_RETURN(PushedFile pushed,
                     git_->CommitAndPush(url, binding.branch(), head, binding.path(), contents,
                                         CommitAuthorOf(author), message, clock_->Now()));
    MarkSynced(binding, pushed.commit, pushed.blob);
    RETURN_IF_ERROR(
        db_->Write([&](storage::Transaction& tx) { return bindings_.Put(tx, binding); }));
    Audit("GitOps/Enable", binding, absl::OkStatus());
    return binding;
  }
  // A new binding has no blob yet: whatever the file holds is applied.
  if (binding.state() == v1::GITOPS_STATE_UNSPECIFIED) binding.clear_blob();
  SyncTo(binding, url, head);
  Audit("GitOps/Enable", binding, absl::OkStatus());
  return Get(request.pipeline());
}

absl::Status GitOps::Disable(const v1::DisableGitOpsRequest& request) {
  if (absl::Status s = CheckDnsLabel(request.pipeline()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline: ", s.message()));
  }
  absl::MutexLock lock(&mu_);
  bool found = false;
  RETURN_IF_ERROR(db_->Write([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(found, bindings_.Delete(tx, request.pipeline()));
    return absl::OkStatus();
  }));
  NoteBound(request.pipeline(), false);
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("pipeline \"", request.pipeline(), "\" is not bound to a Git file"));
  }
  v1::GitOpsBinding gone;
  gone.set_pipeline(request.pipeline());
  gone.set_status("unbound");
  Audit("GitOps/Disable", gone, absl::OkStatus());
  return absl::OkStatus();
}

absl::StatusOr<v1::GitOpsBinding> GitOps::Get(const std::string& pipeline) {
  if (absl::Status s = CheckDnsLabel(pipeline); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline: ", s.message()));
  }
  v1::GitOpsBinding out;
  RETURN_IF_ERROR(db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(out, bindings_.Get(tx, pipeline));
    return absl::OkStatus();
  }));
  return out;
}

void GitOps::SyncAll() {
  std::vector<v1::GitOpsBinding> all;
  absl::Status read = db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(all, bindings_.List(tx));
    return absl::OkStatus();
  });
  if (!read.ok()) {
    spdlog::warn("gitops: cannot list bindings: {}", std::string(read.message()));
    return;
  }
  for (const auto& b : all) {
    absl::MutexLock lock(&mu_);
    v1::GitOpsBinding binding;
    std::string url;
    if (absl::Status s = Load(b.pipeline(), binding, url); !s.ok()) {
      spdlog::warn("gitops: {}: {}", b.pipeline(), std::string(s.message()));
      continue;
    }
    auto head = git_->Fetch(url, binding.branch());
    if (!head.ok()) {
      spdlog::warn("gitops: {}: {}", b.pipeline(), std::string(head.status().message()));
      continue;
    }
    SyncTo(binding, url, *head);
  }
}

trigger::PushOutcome GitOps::OnPush(const v1::Pipeline& pipeline, const v1::Source& source,
                                    const v1::SourceEvent& event) {
  if (event.kind() != v1::GIT_EVENT_KIND_PUSH || event.sha().empty()) return {};
  if (!MaybeBound(pipeline.name())) return {};
  v1::GitOpsBinding binding;
  absl::Status read = db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(binding, bindings_.Get(tx, pipeline.name()));
    return absl::OkStatus();
  });
  if (absl::IsNotFound(read)) NoteBound(pipeline.name(), false);
  if (!read.ok()) return {};  // not bound (or unreadable: the next push or a restart syncs)
  if (binding.source() != source.name() || binding.branch() != event.branch()) return {};
  if (event.changed_files_size() > 0 &&
      std::find(event.changed_files().begin(), event.changed_files().end(), binding.path()) ==
          event.changed_files().end()) {
    return {};
  }
  if (source.clone_url().empty()) {
    return {absl::StrCat("sync failed at ", Short(event.sha()), ": source \"", source.name(),
                         "\" has no clone_url"),
            false};
  }
  absl::MutexLock lock(&mu_);
  // Fetched again under the lock: a write-back may have moved the branch meanwhile.
  auto head = git_->Fetch(source.clone_url(), binding.branch());
  if (!head.ok()) {
    return {absl::StrCat("sync failed at ", Short(event.sha()), ": ", head.status().message()),
            false};
  }
  auto reread = db_->Read([&](storage::Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(binding, bindings_.Get(tx, pipeline.name()));
    return absl::OkStatus();
  });
  if (!reread.ok()) return {};
  return SyncTo(binding, source.clone_url(), event.sha());
}

trigger::PushOutcome GitOps::Report(v1::GitOpsBinding binding, v1::GitOpsState state,
                                    const std::string& sha, std::string status,
                                    std::vector<std::string> errors) {
  binding.set_state(state);
  binding.set_sha(sha);
  binding.set_status(std::move(status));
  binding.clear_errors();
  if (errors.size() > kMaxErrors) errors.resize(kMaxErrors);
  for (auto& e : errors) binding.add_errors(std::move(e));
  *binding.mutable_update_time() = ProtoTime(clock_->Now());
  absl::Status stored =
      db_->Write([&](storage::Transaction& tx) { return bindings_.Put(tx, binding); });
  if (!stored.ok()) {
    spdlog::warn("gitops: {}: cannot store the sync status: {}", binding.pipeline(),
                 std::string(stored.message()));
  }
  spdlog::warn("gitops: {}: {}", binding.pipeline(), binding.status());
  Audit("GitOps/Sync", binding, absl::OkStatus());
  std::string note = binding.status();
  if (binding.errors_size() > 0) {
    absl::StrAppend(&note, ": ", absl::StrJoin(binding.errors(), "; "));
  }
  return {std::move(note), false};
}

trigger::PushOutcome GitOps::SyncTo(v1::GitOpsBinding binding, const std::string& url,
                                    const std::string& sha) {
  // Every caller fetched the branch just before.
  auto file = git_->Read(url, sha, binding.path());
  if (!file.ok()) {
    return Report(binding, v1::GITOPS_STATE_FAILED, sha,
                  absl::StrCat("sync failed at ", Short(sha)),
                  {std::string(file.status().message())});
  }
  if (!file->found) {
    return Report(binding, v1::GITOPS_STATE_PAUSED, sha,
                  absl::StrCat("paused: ", binding.path(), " deleted at ", Short(sha),
                               "; the pipeline keeps its last revision"),
                  {});
  }
  if (!binding.blob().empty() && file->blob == binding.blob()) {
    // What the pipeline was synced from (or written back as): nothing to apply.
    const bool was_synced = binding.state() == v1::GITOPS_STATE_SYNCED && binding.sha() == sha;
    binding.set_state(v1::GITOPS_STATE_SYNCED);
    binding.set_sha(sha);
    binding.set_status(absl::StrCat("synced at ", Short(sha)));
    binding.clear_errors();
    if (!was_synced) {
      *binding.mutable_update_time() = ProtoTime(clock_->Now());
      absl::Status stored =
          db_->Write([&](storage::Transaction& tx) { return bindings_.Put(tx, binding); });
      if (!stored.ok())
        return {absl::StrCat("sync failed at ", Short(sha), ": ", stored.message())};
    }
    return {binding.status(), false};
  }
  v1::Pipeline spec;
  FieldLines lines;
  if (absl::Status parsed = ParseYaml(file->contents, &spec, &lines); !parsed.ok()) {
    return Report(binding, v1::GITOPS_STATE_FAILED, sha,
                  absl::StrCat("sync failed at ", Short(sha)),
                  {absl::StrCat(binding.path(), ": ", parsed.message())});
  }
  std::vector<std::string> errors;
  if (spec.argument_overrides_size() > 0 || spec.secret_argument_overrides_size() > 0) {
    errors.push_back(
        "argument_overrides: kept in Slipway for each pipeline made from the file, not in Git "
        "(slipway apply --override, or edit the pipeline)");
  }
  spec.set_name(binding.pipeline());
  v1::ValidatePipelineRequest check;
  *check.mutable_pipeline() = spec;
  const v1::ValidatePipelineResponse checked = pipelines_->Validate(check);
  for (const auto& p : checked.problems()) {
    const int line = lines.LineOf(p.field());
    errors.push_back(line > 0 ? absl::StrCat(p.field(), " (line ", line, "): ", p.message())
                              : absl::StrCat(p.field(), ": ", p.message()));
  }
  if (!errors.empty()) {
    std::string status = absl::StrCat("sync failed at ", Short(sha), ": ", errors.size(),
                                      " problem(s); the pipeline keeps its last good revision");
    return Report(binding, v1::GITOPS_STATE_FAILED, sha, std::move(status), std::move(errors));
  }
  pipeline::Author author;
  author.actor = absl::StrCat("git:", binding.source());
  author.description = file->author;
  author.source = v1::REVISION_SOURCE_GIT;
  author.git_sha = sha;
  v1::GitOpsBinding synced = binding;
  MarkSynced(synced, sha, file->blob);
  auto applied = pipelines_->ApplyFromGit(
      std::move(spec), author, RevisionMessage(file->summary),
      [&](storage::Transaction& tx) -> absl::Status { return bindings_.Put(tx, synced); });
  if (!applied.ok()) {
    if (absl::IsInvalidArgument(applied.status())) {
      return Report(binding, v1::GITOPS_STATE_FAILED, sha,
                    absl::StrCat("sync failed at ", Short(sha)),
                    {std::string(applied.status().message())});
    }
    spdlog::warn("gitops: {}: sync at {}: {}", binding.pipeline(), sha,
                 std::string(applied.status().message()));
    return {absl::StrCat("sync failed at ", Short(sha), ": ", applied.status().message()), false};
  }
  const int64_t revision = applied->pipeline().revision();
  const bool changed = applied->result() == v1::ApplyPipelineResponse::RESULT_UPDATED;
  Audit("GitOps/Sync", synced, absl::OkStatus());
  return {changed ? absl::StrCat("synced at ", Short(sha), ", revision ", revision)
                  : absl::StrCat("synced at ", Short(sha), ", unchanged"),
          changed};
}

absl::StatusOr<bool> GitOps::IsBound(storage::Transaction& tx, const std::string& name) {
  auto b = bindings_.Get(tx, name);
  if (absl::IsNotFound(b.status())) return false;
  if (!b.ok()) return b.status();
  return true;
}

absl::Status GitOps::WriteBackThen(
    const std::string& name, const v1::Pipeline& spec, const pipeline::Author& author,
    const std::string& message,
    const std::function<absl::Status(const pipeline::WrittenBack&)>& store) {
  absl::MutexLock lock(&mu_);
  v1::GitOpsBinding binding;
  std::string url;
  RETURN_IF_ERROR(Load(name, binding, url));
  if (binding.state() == v1::GITOPS_STATE_PAUSED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "pipeline \"", name, "\" is bound to ", binding.path(),
        ", which was deleted in Git; restore the file or unbind it (slipway gitops disable)"));
  }
  const std::string commit_message =
      message.empty()
          ? absl::StrCat("Update Slipway pipeline ", name, "\n\nEdited through Slipway by ",
                         CommitAuthorOf(author).name, ".\n")
          : absl::StrCat(message, "\n");
  absl::Duration wait = options_.first_backoff;
  absl::Status last;
  for (int attempt = 1; attempt <= options_.push_attempts; ++attempt) {
    if (attempt > 1) {
      spdlog::warn("gitops: {}: push attempt {} failed ({}); retrying in {}", name, attempt - 1,
                   std::string(last.message()), absl::FormatDuration(wait));
      clock_->Sleep(wait);
      wait *= 2;
    }
    ASSIGN_OR_RETURN(std::string head, git_->Fetch(url, binding.branch()));
    ASSIGN_OR_RETURN(FileAt file, git_->Read(url, head, binding.path()));
    const std::string blob = file.found ? file.blob : "";
    if (blob != binding.blob()) {
      return absl::AbortedError(absl::StrCat(
          binding.path(), " changed in Git at ", head, " (branch ", binding.branch(),
          ") since pipeline \"", name, "\" was synced at ", Short(binding.synced_sha()),
          "; nothing was written: the push syncs it, then edit again or edit the file in Git"));
    }
    std::string file_name = name;
    v1::Pipeline base;
    if (ParseYaml(file.contents, &base).ok() && !base.name().empty()) file_name = base.name();
    const std::string contents = RenderPipelineFile(spec, file_name);
    pipeline::WrittenBack written;
    if (contents == file.contents) {
      // Already there (a retried request whose push went through): nothing to commit.
      written = {head, file.blob};
    } else {
      auto pushed = git_->CommitAndPush(url, binding.branch(), head, binding.path(), contents,
                                        CommitAuthorOf(author), commit_message, clock_->Now());
      if (absl::IsAborted(pushed.status()) || absl::IsUnavailable(pushed.status())) {
        // The branch moved (the next attempt commits on its new head if the file is still
        // the same) or the push was refused.
        last = pushed.status();
        continue;
      }
      if (!pushed.ok()) return pushed.status();
      written = {pushed->commit, pushed->blob};
    }
    written.push_attempts = attempt;
    MarkWrittenBack(binding, written);
    absl::Status s = store(written);
    Audit("GitOps/WriteBack", binding, s);
    return s;
  }
  Audit("GitOps/WriteBack", binding, last);
  return absl::UnavailableError(absl::StrCat("pushing pipeline \"", name, "\" to ",
                                             binding.branch(), " failed ", options_.push_attempts,
                                             " times; nothing was "
                                             "stored; last: ",
                                             last.message()));
}

absl::Status GitOps::Committed(storage::Transaction& tx, const std::string& name,
                               const pipeline::WrittenBack& written) {
  ASSIGN_OR_RETURN(v1::GitOpsBinding b, bindings_.Get(tx, name));
  MarkWrittenBack(b, written);
  return bindings_.Put(tx, b);
}

absl::Status GitOps::Unbind(storage::Transaction& tx, const std::string& name) {
  return bindings_.Delete(tx, name).status();
}

}  // namespace slipway::gitops
