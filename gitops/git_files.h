// The Git side of pipelines kept in Git: one bare clone per repository under a private
// directory, a branch fetched on demand, a file read at a commit, and a file committed on top
// of a branch and pushed only if the branch is still where it was read (a lease on the remote
// ref: a push never overwrites a commit it did not see).
#ifndef SLIPWAY_GITOPS_GIT_FILES_H_
#define SLIPWAY_GITOPS_GIT_FILES_H_

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace slipway::gitops {

// A pipeline file larger than this is refused (the same bound as `slipway apply -f`).
inline constexpr size_t kMaxFileBytes = 1 << 20;

struct FileAt {
  bool found = false;  // false: no file at that path in that commit
  std::string blob;    // the blob's id (hex)
  std::string contents;
  // The commit's author ("Jane Doe <jane@example.com>") and the first line of its message.
  std::string author;
  std::string summary;
};

struct PushedFile {
  std::string commit;
  std::string blob;
};

struct CommitAuthor {
  std::string name;
  std::string email;
};

// Thread-safe: one operation at a time. Error messages never show URL credentials. Virtual
// so that tests can make a push fail on demand.
class GitFiles {
 public:
  // Clones live under `dir`, created private to slipwayd's user on first use. `clock` (not
  // owned) bounds how long a fetch may keep bringing data.
  GitFiles(std::string dir, const Clock* clock);
  virtual ~GitFiles();
  GitFiles(const GitFiles&) = delete;
  GitFiles& operator=(const GitFiles&) = delete;

  // Fetches `branch` of `url` and returns its head commit. NOT_FOUND if the branch does not
  // exist; UNAVAILABLE if the repository cannot be reached; INVALID_ARGUMENT for a branch name
  // Git refuses.
  virtual absl::StatusOr<std::string> Fetch(const std::string& url, const std::string& branch);
  // The file at `path` in `commit` (fetched before). INVALID_ARGUMENT if it is not a regular
  // file or is larger than kMaxFileBytes; NOT_FOUND if the commit is unknown.
  virtual absl::StatusOr<FileAt> Read(const std::string& url, const std::string& commit,
                                      const std::string& path);
  // Commits `contents` at `path` on top of `parent` and pushes it to `branch`, provided the
  // remote branch is still at `parent`. Returns the new commit and blob. ABORTED ("the branch
  // moved") when the remote branch is elsewhere: nothing was pushed. UNAVAILABLE when the push
  // failed otherwise.
  virtual absl::StatusOr<PushedFile> CommitAndPush(
      const std::string& url, const std::string& branch, const std::string& parent,
      const std::string& path, const std::string& contents, const CommitAuthor& author,
      const std::string& message, absl::Time when);

 private:
  absl::StatusOr<std::string> FetchLocked(const std::string& url, const std::string& branch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<FileAt> ReadLocked(const std::string& url, const std::string& commit,
                                    const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<PushedFile> CommitAndPushLocked(const std::string& url, const std::string& branch,
                                                 const std::string& parent, const std::string& path,
                                                 const std::string& contents,
                                                 const CommitAuthor& author,
                                                 const std::string& message, absl::Time when)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  const Clock* clock_;
  absl::Mutex mu_;
  // Opens (creating if needed) the clone of `url`; returns its path.
  absl::StatusOr<std::string> ClonePath(const std::string& url) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

// A path a bound file may have: relative, '/'-separated, no empty, "." or ".." part, no
// ".git" part, printable, at most 256 bytes. INVALID_ARGUMENT naming `field` otherwise.
absl::Status CheckFilePath(const std::string& field, const std::string& path);
// A branch name Git accepts (as refs/heads/<branch>), at most 200 bytes.
absl::Status CheckBranchName(const std::string& field, const std::string& branch);

}  // namespace slipway::gitops

#endif  // SLIPWAY_GITOPS_GIT_FILES_H_
