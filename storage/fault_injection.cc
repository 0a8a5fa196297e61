#include "storage/fault_injection.h"

#include <sqlite3.h>

#include <cstring>

namespace slipway::storage {

struct FaultInjectingVfs::Impl {
  sqlite3_vfs vfs{};
  sqlite3_vfs* base = nullptr;
  FaultInjectingVfs* owner = nullptr;
  sqlite3_io_methods methods{};

  struct File {
    sqlite3_file base;  // must be first
    Impl* impl;
    sqlite3_file* real;  // allocated right after this struct
  };

  static Impl* Of(sqlite3_file* f) { return reinterpret_cast<File*>(f)->impl; }
  static sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

  static int Close(sqlite3_file* f) {
    sqlite3_file* r = Real(f);
    return r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
  }
  static int Read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
    return Real(f)->pMethods->xRead(Real(f), buf, n, off);
  }
  static int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
    Impl* impl = Of(f);
    if (impl->owner->fail_writes_) {
      ++impl->owner->injected_;
      return SQLITE_IOERR_WRITE;
    }
    return Real(f)->pMethods->xWrite(Real(f), buf, n, off);
  }
  static int Truncate(sqlite3_file* f, sqlite3_int64 size) {
    Impl* impl = Of(f);
    if (impl->owner->fail_writes_) {
      ++impl->owner->injected_;
      return SQLITE_IOERR_TRUNCATE;
    }
    return Real(f)->pMethods->xTruncate(Real(f), size);
  }
  static int Sync(sqlite3_file* f, int flags) {
    Impl* impl = Of(f);
    if (impl->owner->fail_syncs_) {
      ++impl->owner->injected_;
      return SQLITE_IOERR_FSYNC;
    }
    return Real(f)->pMethods->xSync(Real(f), flags);
  }
  static int FileSize(sqlite3_file* f, sqlite3_int64* size) {
    return Real(f)->pMethods->xFileSize(Real(f), size);
  }
  static int Lock(sqlite3_file* f, int l) { return Real(f)->pMethods->xLock(Real(f), l); }
  static int Unlock(sqlite3_file* f, int l) { return Real(f)->pMethods->xUnlock(Real(f), l); }
  static int CheckReservedLock(sqlite3_file* f, int* out) {
    return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
  }
  static int FileControl(sqlite3_file* f, int op, void* arg) {
    return Real(f)->pMethods->xFileControl(Real(f), op, arg);
  }
  static int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
  static int DeviceCharacteristics(sqlite3_file* f) {
    return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
  }
  static int ShmMap(sqlite3_file* f, int pg, int sz, int extend, void volatile** pp) {
    return Real(f)->pMethods->xShmMap(Real(f), pg, sz, extend, pp);
  }
  static int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
    return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
  }
  static void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
  static int ShmUnmap(sqlite3_file* f, int del) {
    return Real(f)->pMethods->xShmUnmap(Real(f), del);
  }
  static int Fetch(sqlite3_file* f, sqlite3_int64 off, int amt, void** pp) {
    return Real(f)->pMethods->xFetch(Real(f), off, amt, pp);
  }
  static int Unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
    return Real(f)->pMethods->xUnfetch(Real(f), off, p);
  }

  static int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out) {
    Impl* impl = static_cast<Impl*>(vfs->pAppData);
    File* file = reinterpret_cast<File*>(f);
    file->impl = impl;
    file->real = reinterpret_cast<sqlite3_file*>(file + 1);
    std::memset(file->real, 0, impl->base->szOsFile);
    int rc = impl->base->xOpen(impl->base, name, file->real, flags, out);
    f->pMethods = file->real->pMethods != nullptr ? &impl->methods : nullptr;
    return rc;
  }
  static int Delete(sqlite3_vfs* vfs, const char* name, int sync) {
    Impl* impl = static_cast<Impl*>(vfs->pAppData);
    return impl->base->xDelete(impl->base, name, sync);
  }
  static int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
    Impl* impl = static_cast<Impl*>(vfs->pAppData);
    return impl->base->xAccess(impl->base, name, flags, out);
  }
  static int FullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
    Impl* impl = static_cast<Impl*>(vfs->pAppData);
    return impl->base->xFullPathname(impl->base, name, n, out);
  }
  static int Randomness(sqlite3_vfs* vfs, int n, char* out) {
    Impl* impl = static_cast<Impl*>(vfs->pAppData);
    return impl->base->xRandomness(impl->base, n, out);
  }
  static int Sleep(sqlite3_vfs* vfs, int us) {
    Impl* impl = static_cast<Impl*>(vfs->pAppData);
    return impl->base->xSleep(impl->base, us);
  }
  static int CurrentTime(sqlite3_vfs* vfs, double* out) {
    Impl* impl = static_cast<Impl*>(vfs->pAppData);
    return impl->base->xCurrentTime(impl->base, out);
  }
  static int GetLastError(sqlite3_vfs* vfs, int n, char* out) {
    Impl* impl = static_cast<Impl*>(vfs->pAppData);
    return impl->base->xGetLastError(impl->base, n, out);
  }
  static int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
    Impl* impl = static_cast<Impl*>(vfs->pAppData);
    return impl->base->xCurrentTimeInt64(impl->base, out);
  }
};

FaultInjectingVfs::FaultInjectingVfs(std::string name)
    : name_(std::move(name)), impl_(std::make_unique<Impl>()) {
  sqlite3_initialize();
  Impl& i = *impl_;
  i.owner = this;
  i.base = sqlite3_vfs_find(nullptr);
  i.methods = {
      3,
      &Impl::Close,
      &Impl::Read,
      &Impl::Write,
      &Impl::Truncate,
      &Impl::Sync,
      &Impl::FileSize,
      &Impl::Lock,
      &Impl::Unlock,
      &Impl::CheckReservedLock,
      &Impl::FileControl,
      &Impl::SectorSize,
      &Impl::DeviceCharacteristics,
      &Impl::ShmMap,
      &Impl::ShmLock,
      &Impl::ShmBarrier,
      &Impl::ShmUnmap,
      &Impl::Fetch,
      &Impl::Unfetch,
  };
  i.vfs.iVersion = 2;
  i.vfs.szOsFile = static_cast<int>(sizeof(Impl::File)) + i.base->szOsFile;
  i.vfs.mxPathname = i.base->mxPathname;
  i.vfs.zName = name_.c_str();
  i.vfs.pAppData = impl_.get();
  i.vfs.xOpen = &Impl::Open;
  i.vfs.xDelete = &Impl::Delete;
  i.vfs.xAccess = &Impl::Access;
  i.vfs.xFullPathname = &Impl::FullPathname;
  i.vfs.xRandomness = &Impl::Randomness;
  i.vfs.xSleep = &Impl::Sleep;
  i.vfs.xCurrentTime = &Impl::CurrentTime;
  i.vfs.xGetLastError = &Impl::GetLastError;
  i.vfs.xCurrentTimeInt64 = &Impl::CurrentTimeInt64;
  sqlite3_vfs_register(&i.vfs, /*makeDflt=*/0);
}

FaultInjectingVfs::~FaultInjectingVfs() { sqlite3_vfs_unregister(&impl_->vfs); }

}  // namespace slipway::storage
