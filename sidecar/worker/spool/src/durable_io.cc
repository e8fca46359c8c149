// durable_io.cc: see durable_io.h.
//
// SECURITY: opens directories only (O_DIRECTORY), read-only, close-on-exec.
// ERRORS: every C call is checked; errno names the failure.
#include "durable_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sidecar::spool::detail {

foundation::Error ioError(const std::string& what, int err) {
  const bool full = err == ENOSPC || err == EDQUOT;
  return foundation::Error::temporary(std::string(full ? "spool disk full: " : "spool: ") + what +
                                      ": " + std::strerror(err));
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

int Fd::close() noexcept {
  const int rc = ::close(fd_);
  fd_ = -1;
  return rc;
}

foundation::Status syncDirectory(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ioError("open " + dir, errno);
  if (::fsync(fd.get()) != 0) return ioError("fsync " + dir, errno);
  return {};
}

}  // namespace sidecar::spool::detail
