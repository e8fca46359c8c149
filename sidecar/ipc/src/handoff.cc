// handoff.cc: the keeper's hand-off record and its memory (see handoff.h).
//
// SECURITY: the record is encoded and decoded with the bounded ipc Writer/Reader; a
// slot is accepted only with its magic, version, a length within the slot and a
// BLAKE2b-256 tag (keyless: it detects a torn write, not a forger, and the only writer
// is the keeper) over sequence, length and body. Bodies are copied only into locked
// Packets. The memory file is created without any mapping in this process.
// ERRORS: false / empty results; createHandoffMemory names the failed system call.
#include "sidecar/ipc/handoff.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sidecar::ipc {
namespace {

constexpr std::uint32_t kSlotMagic = 0x4f484353;  // "SCHO"
constexpr std::uint32_t kSlotVersion = 1;
constexpr std::size_t kTagBytes = 32;
constexpr std::size_t kMaxToken = 4096;
constexpr std::size_t kMaxAccessor = 256;
constexpr std::size_t kMaxPath = 256;
constexpr std::size_t kMaxLeaseIdBytes = 1024;
constexpr std::size_t kMaxLoginField = 4096;
constexpr std::uint32_t kLeaseRenewable = 1;
constexpr std::uint32_t kLeaseCurrent = 2;

void putLe(unsigned char* out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out[i] = static_cast<unsigned char>(value >> (8 * i));
}

std::uint64_t getLe(const unsigned char* in, std::size_t bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes; ++i) value |= std::uint64_t{in[i]} << (8 * i);
  return value;
}

// Layout of a slot: magic u32, version u32, sequence u64, length u32, reserved u32
// (zero), tag[32], body[length].
void slotTag(const unsigned char* slot, std::size_t length, unsigned char tag[kTagBytes]) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, kTagBytes);
  crypto_generichash_update(&state, slot, 24);  // magic .. reserved
  crypto_generichash_update(&state, slot + kHandoffSlotHeader, length);
  crypto_generichash_final(&state, tag, kTagBytes);
}

// The slot's sequence if it holds a valid record, else 0.
std::uint64_t validSequence(const unsigned char* slot) {
  if (getLe(slot, 4) != kSlotMagic || getLe(slot + 4, 4) != kSlotVersion) return 0;
  const std::uint64_t sequence = getLe(slot + 8, 8);
  const std::uint64_t length = getLe(slot + 16, 4);
  if (sequence == 0 || length == 0 || length > kMaxHandoffBody || getLe(slot + 20, 4) != 0) {
    return 0;
  }
  unsigned char tag[kTagBytes];
  slotTag(slot, static_cast<std::size_t>(length), tag);
  const bool ok = sodium_memcmp(tag, slot + 24, kTagBytes) == 0;
  sodium_memzero(tag, sizeof tag);
  return ok ? sequence : 0;
}

}  // namespace

bool encodeHandoffState(const HandoffState& state, Packet& out) {
  if (state.leases.size() > kMaxHandoffLeases || state.old_tokens.size() > kMaxHandoffOldTokens) {
    return false;
  }
  Writer w(MessageType::HandoffState, 0, out);
  w.secret(state.token)
      .str(state.token_accessor)
      .u64(state.token_expires_unix)
      .u32(state.token_renewable ? 1 : 0)
      .secret(state.role_id)
      .secret(state.secret_id)
      .u64(state.secret_id_expires_unix)
      .u32(static_cast<std::uint32_t>(state.leases.size()));
  for (const auto& lease : state.leases) {
    w.str(lease.credential_path)
        .str(lease.lease_id)
        .secret(lease.username)
        .secret(lease.password)
        .u64(lease.expires_unix)
        .u32((lease.renewable ? kLeaseRenewable : 0) | (lease.current ? kLeaseCurrent : 0));
  }
  w.u32(static_cast<std::uint32_t>(state.old_tokens.size()));
  for (const auto& token : state.old_tokens) w.secret(token);
  if (!w.finish()) return false;
  if (out.size() > kMaxHandoffBody) {
    out.wipe();
    return false;
  }
  return true;
}

bool decodeHandoffState(Reader& r, HandoffState& out) {
  if (r.type() != MessageType::HandoffState) return false;
  std::uint32_t flag = 0;
  std::uint32_t count = 0;
  if (!r.secret(out.token, kMaxToken) || !r.str(out.token_accessor, kMaxAccessor) ||
      !r.u64(out.token_expires_unix) || !r.u32(flag) || flag > 1 ||
      !r.secret(out.role_id, kMaxLoginField) || !r.secret(out.secret_id, kMaxLoginField) ||
      !r.u64(out.secret_id_expires_unix) || !r.u32(count) || count > kMaxHandoffLeases) {
    return false;
  }
  out.token_renewable = flag == 1;
  out.leases.clear();
  for (std::uint32_t i = 0; i < count; ++i) {
    HandoffLease lease;
    std::uint32_t flags = 0;
    if (!r.str(lease.credential_path, kMaxPath) || !r.str(lease.lease_id, kMaxLeaseIdBytes) ||
        lease.lease_id.empty() || !r.secret(lease.username, kMaxLoginField) ||
        !r.secret(lease.password, kMaxLoginField) || !r.u64(lease.expires_unix) || !r.u32(flags) ||
        (flags & ~(kLeaseRenewable | kLeaseCurrent)) != 0) {
      return false;
    }
    lease.renewable = (flags & kLeaseRenewable) != 0;
    lease.current = (flags & kLeaseCurrent) != 0;
    // A path with a control character would reach the logs: not something a keeper writes.
    for (const char c : lease.credential_path + lease.lease_id) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    }
    out.leases.push_back(std::move(lease));
  }
  if (!r.u32(count) || count > kMaxHandoffOldTokens) return false;
  out.old_tokens.clear();
  for (std::uint32_t i = 0; i < count; ++i) {
    foundation::SecretBytes token;
    if (!r.secret(token, kMaxToken) || token.empty()) return false;
    out.old_tokens.push_back(std::move(token));
  }
  for (const char c : out.token_accessor) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return r.end();
}

bool encodeHandoffMemory(Packet& out) {
  return Writer(MessageType::HandoffMemory, 0, out).finish();
}

bool decodeHandoffMemory(Reader& r) {
  return r.type() == MessageType::HandoffMemory && r.end();
}

std::uint64_t writeHandoffSlot(std::span<unsigned char> memory, std::uint64_t last_sequence,
                               std::string_view body) {
  if (memory.size() < kHandoffBytes || body.empty() || body.size() > kMaxHandoffBody) return 0;
  const std::uint64_t sequence = last_sequence + 1;
  unsigned char* slot = memory.data() + (sequence % 2) * kHandoffSlotBytes;
  // The magic is cleared first and the tag written last: a writer that dies halfway
  // leaves a slot that fails its check, and the other slot still holds the last record.
  putLe(slot, 0, 4);
  putLe(slot + 4, kSlotVersion, 4);
  putLe(slot + 8, sequence, 8);
  putLe(slot + 16, body.size(), 4);
  putLe(slot + 20, 0, 4);
  std::memcpy(slot + kHandoffSlotHeader, body.data(), body.size());
  sodium_memzero(slot + kHandoffSlotHeader + body.size(), kMaxHandoffBody - body.size());
  putLe(slot, kSlotMagic, 4);
  unsigned char tag[kTagBytes];
  slotTag(slot, body.size(), tag);
  std::memcpy(slot + 24, tag, kTagBytes);
  // The new record is complete: the previous one (a replaced password, a revoked token)
  // is zeroed, so no stale secret outlives its use here.
  sodium_memzero(memory.data() + ((sequence + 1) % 2) * kHandoffSlotBytes, kHandoffSlotBytes);
  return sequence;
}

bool readHandoffSlots(std::span<const unsigned char> memory, Packet& out, std::uint64_t& sequence) {
  sequence = 0;
  if (memory.size() < kHandoffBytes) return false;
  const unsigned char* best = nullptr;
  for (std::size_t i = 0; i < 2; ++i) {
    const unsigned char* slot = memory.data() + i * kHandoffSlotBytes;
    const std::uint64_t s = validSequence(slot);
    if (s > sequence) {
      sequence = s;
      best = slot;
    }
  }
  if (best == nullptr) return false;
  const std::size_t length = static_cast<std::size_t>(getLe(best + 16, 4));
  out.wipe();
  std::memcpy(out.data(), best + kHandoffSlotHeader, length);
  out.setSize(length);
  return true;
}

void clearHandoffSlots(std::span<unsigned char> memory) {
  sodium_memzero(memory.data(), memory.size());
}

const char* toString(HandoffBacking backing) noexcept {
  return backing == HandoffBacking::SecretMemory ? "memfd_secret" : "sealed_memfd";
}

foundation::Result<HandoffMemoryFd> createHandoffMemory() {
  HandoffMemoryFd made;
#ifdef SYS_memfd_secret
  // O_CLOEXEC is memfd_secret's only flag. ENOSYS (old kernel, or secretmem disabled at
  // boot) and EPERM (a container runtime's seccomp profile) fall back to a memfd.
  made.fd = static_cast<int>(::syscall(SYS_memfd_secret, static_cast<unsigned>(O_CLOEXEC)));
#endif
  if (made.fd >= 0) {
    if (::ftruncate(made.fd, static_cast<off_t>(kHandoffBytes)) != 0) {
      const int error = errno;
      ::close(made.fd);
      return foundation::Error::permanent(std::string("ftruncate(memfd_secret): ") +
                                          std::strerror(error));
    }
    return made;
  }
  made.backing = HandoffBacking::SealedMemfd;
  made.fd = ::memfd_create("smtp-sidecar-handoff", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (made.fd < 0) {
    return foundation::Error::permanent(std::string("memfd_create: ") + std::strerror(errno));
  }
  // A fixed size: the keeper's mapping can never be cut short under it (SIGBUS).
  if (::ftruncate(made.fd, static_cast<off_t>(kHandoffBytes)) != 0 ||
      ::fcntl(made.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    const int error = errno;
    ::close(made.fd);
    return foundation::Error::permanent(std::string("sealing the hand-off memfd: ") +
                                        std::strerror(error));
  }
  return made;
}

}  // namespace sidecar::ipc
