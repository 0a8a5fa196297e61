// Owning pointers and error text for libgit2 objects, shared by the poller's mirrors and the
// Git files pipelines are kept in (gitops/).
#ifndef SLIPWAY_TRIGGER_GIT2_UTIL_H_
#define SLIPWAY_TRIGGER_GIT2_UTIL_H_

#include <git2.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace slipway::trigger {

template <typename T, void (*Free)(T*)>
struct Git2Deleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Git2Ptr = std::unique_ptr<T, Git2Deleter<T, Free>>;
using RepoPtr = Git2Ptr<git_repository, git_repository_free>;
using CommitPtr = Git2Ptr<git_commit, git_commit_free>;
using TreePtr = Git2Ptr<git_tree, git_tree_free>;
using TreeEntryPtr = Git2Ptr<git_tree_entry, git_tree_entry_free>;
using BlobPtr = Git2Ptr<git_blob, git_blob_free>;
using DiffPtr = Git2Ptr<git_diff, git_diff_free>;
using WalkPtr = Git2Ptr<git_revwalk, git_revwalk_free>;
using RemotePtr = Git2Ptr<git_remote, git_remote_free>;
using ObjectPtr = Git2Ptr<git_object, git_object_free>;
using ReferencePtr = Git2Ptr<git_reference, git_reference_free>;
using SignaturePtr = Git2Ptr<git_signature, git_signature_free>;

// "<what>: <libgit2's last error>".
inline std::string Git2Error(absl::string_view what) {
  const git_error* e = git_error_last();
  return absl::StrCat(what, ": ", e != nullptr ? e->message : "unknown error");
}

// The hex form of an object id.
inline std::string OidHex(const git_oid* oid) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof(hex), oid);
  return hex;
}

}  // namespace slipway::trigger

#endif  // SLIPWAY_TRIGGER_GIT2_UTIL_H_
