#include "gitops/git_files.h"

#include <git2.h>

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/private_files.h"
#include "common/random.h"
#include "common/url_credentials.h"
#include "trigger/git2_util.h"

namespace slipway::gitops {
namespace {

using trigger::BlobPtr;
using trigger::CommitPtr;
using trigger::Git2Error;
using trigger::OidHex;
using trigger::RemotePtr;
using trigger::RepoPtr;
using trigger::SignaturePtr;
using trigger::TreeEntryPtr;
using trigger::TreePtr;

constexpr size_t kMaxPathBytes = 256;
// A fetch that brings more than this, or is still bringing data after this long, is stopped.
constexpr size_t kMaxFetchBytes = size_t{512} << 20;
constexpr absl::Duration kMaxFetchTime = absl::Minutes(2);

struct FetchBounds {
  const Clock* clock;
  absl::Time deadline;
  bool exceeded = false;
};

int BoundFetch(const git_indexer_progress* progress, void* payload) {
  auto* bounds = static_cast<FetchBounds*>(payload);
  if (progress->received_bytes > kMaxFetchBytes || bounds->clock->Now() > bounds->deadline) {
    bounds->exceeded = true;
    return GIT_EUSER;
  }
  return 0;
}
constexpr size_t kMaxBranchBytes = 200;

// What the push callbacks saw.
struct PushState {
  git_oid expected;       // where the remote branch must still be
  bool moved = false;     // it was elsewhere: the push was stopped before sending
  std::string rejection;  // the remote refused the update
};

int CheckLease(const git_push_update** updates, size_t len, void* payload) {
  auto* state = static_cast<PushState*>(payload);
  for (size_t i = 0; i < len; ++i) {
    if (git_oid_cmp(&updates[i]->src, &state->expected) != 0) {
      state->moved = true;
      return GIT_EUSER;
    }
  }
  return 0;
}

int NoteRejection(const char* /*refname*/, const char* status, void* payload) {
  if (status != nullptr) static_cast<PushState*>(payload)->rejection = status;
  return 0;
}

// A remote without a name: no config, no url.*.insteadOf rewriting.
absl::StatusOr<RemotePtr> AnonymousRemote(git_repository* repo, const std::string& url) {
  git_remote* remote = nullptr;
  git_remote_create_options create = GIT_REMOTE_CREATE_OPTIONS_INIT;
  create.repository = repo;
  create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  if (git_remote_create_with_opts(&remote, url.c_str(), &create) != 0) {
    return absl::UnavailableError(Git2Error("cannot open " + url));
  }
  return RemotePtr(remote);
}

absl::StatusOr<RepoPtr> OpenRepo(const std::string& path) {
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, path.c_str()) != 0) {
    return absl::InternalError(Git2Error("cannot open " + path));
  }
  return RepoPtr(raw);
}

absl::StatusOr<CommitPtr> LookupCommit(git_repository* repo, const std::string& sha) {
  git_oid oid;
  git_commit* commit = nullptr;
  if (sha.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, sha.c_str()) != 0 ||
      git_commit_lookup(&commit, repo, &oid) != 0) {
    return absl::NotFoundError(absl::StrCat("commit ", sha, " is not in the local clone"));
  }
  return CommitPtr(commit);
}

// Git signatures refuse '<', '>' and line breaks; an empty name is not allowed either.
std::string SignatureText(const std::string& text, const char* fallback) {
  std::string out;
  for (char c : text) {
    if (c == '<' || c == '>' || c == '\n' || c == '\r' || c == '\0') continue;
    out.push_back(c);
  }
  if (out.find_first_not_of(' ') == std::string::npos) return fallback;
  return out;
}

}  // namespace

absl::Status CheckFilePath(const std::string& field, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (path.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", path.size(), " bytes, at most ", kMaxPathBytes));
  }
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": control characters and '\\' are not allowed"));
    }
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == ".." || part == ".git") {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": \"", path,
          "\" must be a relative path without empty, \".\", \"..\" or \".git\" parts"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckBranchName(const std::string& field, const std::string& branch) {
  if (branch.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (branch.size() > kMaxBranchBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", branch.size(), " bytes, at most ", kMaxBranchBytes));
  }
  int valid = 0;
  const std::string ref = "refs/heads/" + branch;
  if (git_reference_name_is_valid(&valid, ref.c_str()) != 0 || valid == 0 ||
      absl::StartsWith(branch, "-")) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", branch, "\" is not a valid branch name"));
  }
  return absl::OkStatus();
}

GitFiles::GitFiles(std::string dir, const Clock* clock) : dir_(std::move(dir)), clock_(clock) {
  git_libgit2_init();
}
GitFiles::~GitFiles() { git_libgit2_shutdown(); }

absl::StatusOr<std::string> GitFiles::ClonePath(const std::string& url) {
  const std::string path = absl::StrCat(dir_, "/", Sha256Hex(url).substr(0, 24), ".git");
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, path.c_str()) == 0) {
    git_repository_free(raw);
    return path;
  }
  // The clones hold the repositories' contents: private to slipwayd's user.
  if (absl::Status s = MakePrivateDir(dir_); !s.ok()) return s;
  if (git_repository_init(&raw, path.c_str(), /*is_bare=*/1) != 0) {
    return absl::InternalError(Git2Error("cannot create the clone " + path));
  }
  git_repository_free(raw);
  return path;
}

namespace {

// The same status with URL credentials masked in its message.
template <typename T>
absl::StatusOr<T> Masked(absl::StatusOr<T> result) {
  if (result.ok()) return result;
  const std::string message(result.status().message());
  if (!HasUrlCredentials(message)) return result;
  return absl::Status(result.status().code(), MaskUrlCredentials(message));
}

}  // namespace

absl::StatusOr<std::string> GitFiles::Fetch(const std::string& url, const std::string& branch) {
  if (absl::Status s = CheckBranchName("branch", branch); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  return Masked(FetchLocked(url, branch));
}

absl::StatusOr<FileAt> GitFiles::Read(const std::string& url, const std::string& commit,
                                      const std::string& path) {
  if (absl::Status s = CheckFilePath("path", path); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  return Masked(ReadLocked(url, commit, path));
}

absl::StatusOr<PushedFile> GitFiles::CommitAndPush(
    const std::string& url, const std::string& branch, const std::string& parent,
    const std::string& path, const std::string& contents, const CommitAuthor& author,
    const std::string& message, absl::Time when) {
  if (absl::Status s = CheckBranchName("branch", branch); !s.ok()) return s;
  if (absl::Status s = CheckFilePath("path", path); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  return Masked(CommitAndPushLocked(url, branch, parent, path, contents, author, message, when));
}

absl::StatusOr<std::string> GitFiles::FetchLocked(const std::string& url,
                                                  const std::string& branch) {
  auto path = ClonePath(url);
  if (!path.ok()) return path.status();
  auto repo = OpenRepo(*path);
  if (!repo.ok()) return repo.status();
  auto remote = AnonymousRemote(repo->get(), url);
  if (!remote.ok()) return remote.status();
  std::string spec = absl::StrCat("+refs/heads/", branch, ":refs/slipway/heads/", branch);
  char* specs[] = {spec.data()};
  git_strarray refspecs{specs, 1};
  git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
  options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  FetchBounds bounds{clock_, clock_->Now() + kMaxFetchTime};
  options.callbacks.transfer_progress = BoundFetch;
  options.callbacks.payload = &bounds;
  if (git_remote_fetch(remote->get(), &refspecs, &options, "slipway gitops") != 0) {
    if (bounds.exceeded) {
      return absl::ResourceExhaustedError(absl::StrCat("fetching ", url, " stopped: more than ",
                                                       kMaxFetchBytes >> 20, " MiB or ",
                                                       absl::FormatDuration(kMaxFetchTime)));
    }
    return absl::UnavailableError(Git2Error("cannot fetch " + url));
  }
  // What the remote advertised during the fetch: a branch it does not have was not fetched.
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  if (git_remote_ls(&heads, &count, remote->get()) != 0) {
    return absl::UnavailableError(Git2Error("cannot list " + url));
  }
  const std::string wanted = "refs/heads/" + branch;
  for (size_t i = 0; i < count; ++i) {
    if (wanted == heads[i]->name) return OidHex(&heads[i]->oid);
  }
  return absl::NotFoundError(absl::StrCat("branch \"", branch, "\" does not exist in ", url));
}

absl::StatusOr<FileAt> GitFiles::ReadLocked(const std::string& url, const std::string& commit,
                                            const std::string& path) {
  auto clone = ClonePath(url);
  if (!clone.ok()) return clone.status();
  auto repo = OpenRepo(*clone);
  if (!repo.ok()) return repo.status();
  auto c = LookupCommit(repo->get(), commit);
  if (!c.ok()) return c.status();
  FileAt out;
  const git_signature* who = git_commit_author(c->get());
  if (who != nullptr) out.author = absl::StrCat(who->name, " <", who->email, ">");
  if (const char* summary = git_commit_summary(c->get()); summary != nullptr) {
    out.summary = summary;
  }
  git_tree* raw_tree = nullptr;
  if (git_commit_tree(&raw_tree, c->get()) != 0) return absl::InternalError(Git2Error("tree"));
  TreePtr tree(raw_tree);
  git_tree_entry* raw_entry = nullptr;
  const int found = git_tree_entry_bypath(&raw_entry, tree.get(), path.c_str());
  if (found == GIT_ENOTFOUND) return out;
  if (found != 0) return absl::InternalError(Git2Error("cannot read " + path));
  TreeEntryPtr entry(raw_entry);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_BLOB ||
      git_tree_entry_filemode(entry.get()) == GIT_FILEMODE_LINK) {
    return absl::InvalidArgumentError(absl::StrCat(path, " at ", commit, " is not a regular file"));
  }
  git_blob* raw_blob = nullptr;
  if (git_blob_lookup(&raw_blob, repo->get(), git_tree_entry_id(entry.get())) != 0) {
    return absl::InternalError(Git2Error("cannot read " + path));
  }
  BlobPtr blob(raw_blob);
  const auto size = static_cast<size_t>(git_blob_rawsize(blob.get()));
  if (size > kMaxFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " at ", commit, ": ", size, " bytes, at most ", kMaxFileBytes));
  }
  out.found = true;
  out.blob = OidHex(git_tree_entry_id(entry.get()));
  out.contents.assign(static_cast<const char*>(git_blob_rawcontent(blob.get())), size);
  return out;
}

absl::StatusOr<PushedFile> GitFiles::CommitAndPushLocked(
    const std::string& url, const std::string& branch, const std::string& parent,
    const std::string& path, const std::string& contents, const CommitAuthor& author,
    const std::string& message, absl::Time when) {
  auto clone = ClonePath(url);
  if (!clone.ok()) return clone.status();
  auto repo = OpenRepo(*clone);
  if (!repo.ok()) return repo.status();
  auto base = LookupCommit(repo->get(), parent);
  if (!base.ok()) return base.status();
  git_tree* raw_base_tree = nullptr;
  if (git_commit_tree(&raw_base_tree, base->get()) != 0) {
    return absl::InternalError(Git2Error("tree"));
  }
  TreePtr base_tree(raw_base_tree);
  git_oid blob;
  if (git_blob_create_from_buffer(&blob, repo->get(), contents.data(), contents.size()) != 0) {
    return absl::InternalError(Git2Error("cannot write the blob"));
  }
  git_tree_update update{};
  update.action = GIT_TREE_UPDATE_UPSERT;
  update.id = blob;
  update.filemode = GIT_FILEMODE_BLOB;
  update.path = path.c_str();
  git_oid tree_id;
  if (git_tree_create_updated(&tree_id, repo->get(), base_tree.get(), 1, &update) != 0) {
    return absl::InternalError(Git2Error("cannot write the tree"));
  }
  git_tree* raw_tree = nullptr;
  if (git_tree_lookup(&raw_tree, repo->get(), &tree_id) != 0) {
    return absl::InternalError(Git2Error("tree"));
  }
  TreePtr tree(raw_tree);
  git_signature* raw_sig = nullptr;
  const std::string name = SignatureText(author.name, "slipway");
  const std::string email = SignatureText(author.email, "slipway@localhost");
  if (git_signature_new(&raw_sig, name.c_str(), email.c_str(), absl::ToUnixSeconds(when), 0) != 0) {
    return absl::InvalidArgumentError(Git2Error("author"));
  }
  SignaturePtr sig(raw_sig);
  const git_commit* parents[] = {base->get()};
  git_oid commit;
  if (git_commit_create(&commit, repo->get(), nullptr, sig.get(), sig.get(), "UTF-8",
                        message.c_str(), tree.get(), 1, parents) != 0) {
    return absl::InternalError(Git2Error("cannot write the commit"));
  }
  // The commit is pushed from a ref of its own, so the fetched branch ref stays what the
  // remote last said.
  const std::string local = absl::StrCat("refs/slipway/push/", branch);
  git_reference* raw_ref = nullptr;
  if (git_reference_create(&raw_ref, repo->get(), local.c_str(), &commit, /*force=*/1,
                           "slipway gitops") != 0) {
    return absl::InternalError(Git2Error("cannot write " + local));
  }
  git_reference_free(raw_ref);
  auto remote = AnonymousRemote(repo->get(), url);
  if (!remote.ok()) return remote.status();
  std::string spec = absl::StrCat(local, ":refs/heads/", branch);
  char* specs[] = {spec.data()};
  git_strarray refspecs{specs, 1};
  PushState state;
  git_oid_cpy(&state.expected, git_commit_id(base->get()));
  git_push_options options = GIT_PUSH_OPTIONS_INIT;
  options.callbacks.push_negotiation = CheckLease;
  options.callbacks.push_update_reference = NoteRejection;
  options.callbacks.payload = &state;
  const int pushed = git_remote_push(remote->get(), &refspecs, &options);
  if (state.moved || pushed == GIT_ENONFASTFORWARD) {
    return absl::AbortedError(absl::StrCat("branch \"", branch, "\" of ", url, " moved"));
  }
  if (pushed != 0) return absl::UnavailableError(Git2Error("cannot push to " + url));
  if (!state.rejection.empty()) {
    return absl::UnavailableError(
        absl::StrCat(url, " refused the push to ", branch, ": ", state.rejection));
  }
  return PushedFile{OidHex(&commit), OidHex(&blob)};
}

}  // namespace slipway::gitops
