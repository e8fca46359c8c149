// durable_io.h: the spool's few file-system steps that both the committer (batched
// writes) and the store (open, read, quarantine) take, written once: the error that
// names a failed call, an owned descriptor, a directory's fsync, the temporary prefix.
// Private to the spool target (src/, not include/).
//
// SECURITY: a message names the call and the path, never a file's content.
// ERRORS: I/O failures are Temporary ("spool disk full: ..." for ENOSPC/EDQUOT, which
// the worker answers like a full spool); the caller decides what else is permanent.
#pragma once

#include <string>
#include <string_view>

#include "foundation/result.h"

namespace sidecar::spool::detail {

// Files being written carry this prefix until their rename; Store::open removes any
// left by a crash (never acknowledged), and the store's scans pass over them.
inline constexpr std::string_view kTempPrefix = ".tmp-";

// `what` failed with errno `err`.
foundation::Error ioError(const std::string& what, int err);

// An owned descriptor, closed on destruction (errors there ignored: use close() where
// the result matters).
class Fd {
 public:
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const noexcept { return fd_; }
  // close() reports write-back errors on some filesystems (NFS): checked, not ignored.
  int close() noexcept;

 private:
  int fd_;
};

// fsync of the directory itself, which makes the renames and unlinks in it durable.
foundation::Status syncDirectory(const std::string& dir);

}  // namespace sidecar::spool::detail
