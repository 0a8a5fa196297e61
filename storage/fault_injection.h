// A SQLite VFS that wraps the default one and fails writes or syncs on demand (LevelDB's
// fault-injecting Env, for SQLite). Tests open a Database with DatabaseOptions::vfs set to its
// name to prove that a failed write returns an error and leaves the database as it was.
#ifndef SLIPWAY_STORAGE_FAULT_INJECTION_H_
#define SLIPWAY_STORAGE_FAULT_INJECTION_H_

#include <atomic>
#include <memory>
#include <string>

namespace slipway::storage {

// Registered on construction, unregistered on destruction; must outlive every database opened
// through it. The switches are thread-safe.
class FaultInjectingVfs {
 public:
  explicit FaultInjectingVfs(std::string name);
  ~FaultInjectingVfs();
  FaultInjectingVfs(const FaultInjectingVfs&) = delete;
  FaultInjectingVfs& operator=(const FaultInjectingVfs&) = delete;

  const std::string& name() const { return name_; }
  // While on, every write to a database or journal file fails with SQLITE_IOERR_WRITE.
  void FailWrites(bool on) { fail_writes_ = on; }
  // While on, every fsync fails with SQLITE_IOERR_FSYNC.
  void FailSyncs(bool on) { fail_syncs_ = on; }
  // How many operations were failed so far.
  int injected() const { return injected_; }

  struct Impl;

 private:
  std::string name_;
  std::atomic<bool> fail_writes_{false};
  std::atomic<bool> fail_syncs_{false};
  std::atomic<int> injected_{0};
  std::unique_ptr<Impl> impl_;
  friend struct Impl;
};

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_FAULT_INJECTION_H_
