// handoff_memory.h: the keeper's mapping of the hand-off memory the supervisor passes
// it (sidecar/ipc/handoff.h): the record of its predecessor on start, its own record
// whenever it changes, nothing after a clean stop.
//
// SECURITY: a shared mapping of the supervisor's memfd_secret (or sealed memfd),
// locked (mlock) and excluded from core dumps (MADV_DONTDUMP) and from any child
// (MADV_DONTFORK). Only the keeper maps it; the record is encoded and checked by
// handoff.h, and a record that does not check out is ignored, never half-used.
// ERRORS: map() returns a Permanent error naming the failed call; the keeper then runs
// without a hand-off (a crash needs a new secret_id, as before issue 14).
#pragma once

#include <optional>

#include "foundation/result.h"
#include "sidecar/ipc/handoff.h"

namespace sidecar {

class HandoffMemory {
 public:
  // Maps `fd` (owned from now on: closed on failure and in the destructor).
  static foundation::Result<HandoffMemory> map(int fd);
  HandoffMemory(HandoffMemory&& other) noexcept;
  HandoffMemory& operator=(HandoffMemory&&) = delete;
  HandoffMemory(const HandoffMemory&) = delete;
  ~HandoffMemory();

  // The newest valid record, if any.
  std::optional<ipc::HandoffState> load();
  // Writes `state` into the slot not written last. False if it does not fit (more
  // leases than a slot holds): the previous record stays.
  bool store(const ipc::HandoffState& state);
  // Zeroes the memory: nothing is left to take over.
  void clear();

 private:
  HandoffMemory(int fd, unsigned char* base) : fd_(fd), base_(base) {}
  int fd_ = -1;
  unsigned char* base_ = nullptr;
  std::uint64_t sequence_ = 0;
  ipc::Packet scratch_;  // the encoded record (locked)
};

}  // namespace sidecar
