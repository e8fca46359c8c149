// handoff.h: the keeper's hand-off record (issue 14): what a keeper that dies without
// warning (kill -9, SIGSEGV, SIGABRT, the OOM killer) leaves its successor, so the
// successor takes over its Vault token and leases instead of needing a new secret_id
// and leaving them orphaned.
//
// SECURITY: the record holds the Vault token, the AppRole role_id and secret_id and
// each path's leased SMTP login. It lives only in an anonymous memory file the
// supervisor creates before it confines itself (createHandoffMemory: memfd_secret(2),
// whose pages are outside the kernel's direct map and reachable only through a shared
// mapping of the descriptor, or else a sealed memfd that the keeper locks and excludes
// from core dumps). The supervisor holds the descriptor and passes it to each keeper it
// starts (MessageType::HandoffMemory, SCM_RIGHTS); it never maps or reads it, and its
// seccomp filter kills it if it tries through its own descriptor (seccomp.h). The
// worker never receives it. The record is data from the previous keeper, which may have
// died halfway through writing it: two slots, each with a sequence number and a
// BLAKE2b-256 tag over its bytes (the previous record is zeroed only once the new one
// is complete); a reader takes the valid slot with the higher sequence, decodes it with the ipc
// Reader (every field bounded, exact consumption) and treats anything else as "no record". Nothing
// here is ever written to disk. ERRORS: false / std::nullopt for a slot that does not check out;
// createHandoffMemory returns a Permanent error naming the call that failed.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "foundation/result.h"
#include "foundation/secret.h"
#include "sidecar/ipc/ipc.h"

namespace sidecar::ipc {

// Two slots of this size: the keeper writes the one it did not write last, so a crash
// in the middle of a write leaves the other one intact.
inline constexpr std::size_t kHandoffSlotBytes = 16 * 1024;
inline constexpr std::size_t kHandoffBytes = 2 * kHandoffSlotBytes;
inline constexpr std::size_t kHandoffSlotHeader = 56;  // magic, version, sequence, length, tag
inline constexpr std::size_t kMaxHandoffBody = kHandoffSlotBytes - kHandoffSlotHeader;
inline constexpr std::size_t kMaxHandoffLeases = 64;
inline constexpr std::size_t kMaxHandoffOldTokens = 8;

// One lease the dead keeper held. `current` ones are each path's credential (taken
// over when Vault still knows them); the others were being retired (revoked at once).
struct HandoffLease {
  std::string credential_path;
  std::string lease_id;
  foundation::SecretBytes username;
  foundation::SecretBytes password;
  std::uint64_t expires_unix = 0;  // wall clock: a steady clock does not cross processes
  bool renewable = false;
  bool current = false;
};

struct HandoffState {
  foundation::SecretBytes token;  // empty: no live token (revoked, or never logged in)
  std::string token_accessor;     // not secret: names the token in logs and audits
  std::uint64_t token_expires_unix = 0;
  bool token_renewable = false;
  foundation::SecretBytes role_id;
  foundation::SecretBytes secret_id;         // unwrapped; empty when the keeper had none
  std::uint64_t secret_id_expires_unix = 0;  // 0: unknown or never
  std::vector<HandoffLease> leases;
  std::vector<foundation::SecretBytes> old_tokens;  // replaced tokens not yet revoked
};

// The state as one ipc message (type HandoffState) in `out`. False if it would not fit
// a slot or a list is over its limit.
bool encodeHandoffState(const HandoffState& state, Packet& out);
// A Reader whose header() succeeded; false unless the payload is exactly one state.
bool decodeHandoffState(Reader& r, HandoffState& out);

// Supervisor -> keeper: the memory travels as SCM_RIGHTS (no fields).
bool encodeHandoffMemory(Packet& out);
bool decodeHandoffMemory(Reader& r);

// Writes `body` (an encoded HandoffState) into the slot after `last_sequence`'s, then
// zeroes the other slot (the previous record), and returns the new sequence number. `memory` is the
// whole mapping (kHandoffBytes). 0 when the body does not fit.
std::uint64_t writeHandoffSlot(std::span<unsigned char> memory, std::uint64_t last_sequence,
                               std::string_view body);
// The body of the newest slot whose tag checks out, copied into `out` (locked), and its
// sequence number in `sequence`; false when neither slot holds a record.
bool readHandoffSlots(std::span<const unsigned char> memory, Packet& out, std::uint64_t& sequence);
// Zeroes both slots (a clean stop: everything was revoked).
void clearHandoffSlots(std::span<unsigned char> memory);

// What backs the memory, for logs and doctor.
enum class HandoffBacking { SecretMemory, SealedMemfd };
const char* toString(HandoffBacking backing) noexcept;
struct HandoffMemoryFd {
  int fd = -1;
  HandoffBacking backing = HandoffBacking::SecretMemory;
};
// Called by the supervisor before it installs its seccomp filter: memfd_secret(2) when
// the kernel offers it, else memfd_create with its size sealed. kHandoffBytes long,
// close-on-exec. The caller owns the descriptor.
foundation::Result<HandoffMemoryFd> createHandoffMemory();

}  // namespace sidecar::ipc
