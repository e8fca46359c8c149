// handoff_memory.cc: the keeper's mapping of the hand-off memory (see the header).
//
// SECURITY: MAP_SHARED of the supervisor's descriptor (memfd_secret allows no other
// access), mlock (a memfd; secret memory is locked by the kernel) + MADV_DONTDUMP +
// MADV_DONTFORK; the descriptor's size is checked so a
// short file cannot fault the keeper (SIGBUS). Records are compared and zeroed with
// libsodium's constant-time helpers.
// ERRORS: map() names the failed call; load/store report false/nullopt.
#include "sidecar/keeper/handoff_memory.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sidecar {

foundation::Result<HandoffMemory> HandoffMemory::map(int fd) {
  auto fail = [fd](const char* step) {
    const int error = errno;
    ::close(fd);
    return foundation::Error::permanent(std::string("hand-off memory: ") + step + ": " +
                                        std::strerror(error));
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail("fstat");
  if (static_cast<std::size_t>(st.st_size) != ipc::kHandoffBytes) {
    errno = EINVAL;
    return fail("size");
  }
  void* base = ::mmap(nullptr, ipc::kHandoffBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return fail("mmap");
  // Secret memory is locked and kept out of dumps by the kernel itself (a second mlock
  // of it fails); it is also the one kind that has no seals (F_GET_SEALS: EINVAL).
  const bool sealed_memfd = ::fcntl(fd, F_GET_SEALS) >= 0;
  if ((sealed_memfd && ::mlock(base, ipc::kHandoffBytes) != 0) ||
      ::madvise(base, ipc::kHandoffBytes, MADV_DONTDUMP) != 0 ||
      ::madvise(base, ipc::kHandoffBytes, MADV_DONTFORK) != 0) {
    const int error = errno;
    ::munmap(base, ipc::kHandoffBytes);
    errno = error;
    return fail("mlock/madvise");
  }
  return HandoffMemory(fd, static_cast<unsigned char*>(base));
}

HandoffMemory::HandoffMemory(HandoffMemory&& other) noexcept
    : fd_(other.fd_), base_(other.base_), sequence_(other.sequence_) {
  other.fd_ = -1;
  other.base_ = nullptr;
}

HandoffMemory::~HandoffMemory() {
  if (base_ != nullptr) ::munmap(base_, ipc::kHandoffBytes);
  if (fd_ >= 0) ::close(fd_);
}

std::optional<ipc::HandoffState> HandoffMemory::load() {
  std::uint64_t sequence = 0;
  if (!ipc::readHandoffSlots({base_, ipc::kHandoffBytes}, scratch_, sequence)) return std::nullopt;
  sequence_ = sequence;  // the next write goes to the other slot
  ipc::Reader r(scratch_.view());
  ipc::HandoffState state;
  const bool ok = r.header() && ipc::decodeHandoffState(r, state);
  scratch_.wipe();
  if (!ok) return std::nullopt;
  return state;
}

bool HandoffMemory::store(const ipc::HandoffState& state) {
  if (!ipc::encodeHandoffState(state, scratch_)) return false;
  const std::uint64_t written =
      ipc::writeHandoffSlot({base_, ipc::kHandoffBytes}, sequence_, scratch_.view());
  scratch_.wipe();
  if (written == 0) return false;
  sequence_ = written;
  return true;
}

void HandoffMemory::clear() {
  ipc::clearHandoffSlots({base_, ipc::kHandoffBytes});
}

}  // namespace sidecar
