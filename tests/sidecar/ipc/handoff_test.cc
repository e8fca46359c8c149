// handoff_test.cc: the keeper's hand-off record: round trips, the two-slot framing
// (a torn or tampered slot falls back to the other one), refused encodings, and the
// memory the supervisor creates (memfd_secret or a sealed memfd, never readable by
// read(2) when it is secret memory).
#include "sidecar/ipc/handoff.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <vector>

using namespace sidecar::ipc;
using foundation::SecretBytes;

namespace {

struct Init {
  Init() { foundation::initSecretMemoryOrDie(); }
} init;

SecretBytes sb(std::string_view v) {
  return SecretBytes::copyOf(v);
}

HandoffState sample() {
  HandoffState s;
  s.token = sb("s.token-abc");
  s.token_accessor = "accessor-1";
  s.token_expires_unix = 1900000000;
  s.token_renewable = true;
  s.role_id = sb("role-id");
  s.secret_id = sb("secret-id");
  s.secret_id_expires_unix = 1900003600;
  HandoffLease current;
  current.credential_path = "smtp/creds/app";
  current.lease_id = "smtp/creds/app/L1";
  current.username = sb("v-app-1");
  current.password = sb("pw1");
  current.expires_unix = 1900000100;
  current.renewable = true;
  current.current = true;
  s.leases.push_back(std::move(current));
  HandoffLease retiring;
  retiring.lease_id = "smtp/creds/app/L0";
  retiring.expires_unix = 1900000050;
  s.leases.push_back(std::move(retiring));
  s.old_tokens.push_back(sb("s.old"));
  return s;
}

bool roundTrip(const HandoffState& in, HandoffState& out) {
  Packet packet;
  if (!encodeHandoffState(in, packet)) return false;
  Reader r(packet.view());
  return r.header() && decodeHandoffState(r, out);
}

}  // namespace

TEST_CASE("hand-off state round trip keeps every field") {
  HandoffState out;
  REQUIRE(roundTrip(sample(), out));
  CHECK(out.token.equals("s.token-abc"));
  CHECK(out.token_accessor == "accessor-1");
  CHECK(out.token_expires_unix == 1900000000);
  CHECK(out.token_renewable);
  CHECK(out.role_id.equals("role-id"));
  CHECK(out.secret_id.equals("secret-id"));
  CHECK(out.secret_id_expires_unix == 1900003600);
  REQUIRE(out.leases.size() == 2);
  CHECK(out.leases[0].credential_path == "smtp/creds/app");
  CHECK(out.leases[0].lease_id == "smtp/creds/app/L1");
  CHECK(out.leases[0].username.equals("v-app-1"));
  CHECK(out.leases[0].password.equals("pw1"));
  CHECK(out.leases[0].current);
  CHECK(out.leases[0].renewable);
  CHECK_FALSE(out.leases[1].current);
  CHECK(out.leases[1].credential_path.empty());
  REQUIRE(out.old_tokens.size() == 1);
  CHECK(out.old_tokens[0].equals("s.old"));
}

TEST_CASE("an empty state (after a fatal revoke) round-trips") {
  HandoffState empty;
  empty.role_id = sb("r");
  HandoffState out;
  REQUIRE(roundTrip(empty, out));
  CHECK(out.token.empty());
  CHECK(out.leases.empty());
  CHECK(out.role_id.equals("r"));
}

TEST_CASE("encodings that would not fit a slot or exceed a list limit are refused") {
  struct Case {
    const char* name;
    std::function<void(HandoffState&)> spoil;
  };
  const Case cases[] = {
      {"too many leases",
       [](HandoffState& s) {
         while (s.leases.size() <= kMaxHandoffLeases) {
           HandoffLease l;
           l.lease_id = "x";
           s.leases.push_back(std::move(l));
         }
       }},
      {"too many old tokens",
       [](HandoffState& s) {
         while (s.old_tokens.size() <= kMaxHandoffOldTokens) s.old_tokens.push_back(sb("t"));
       }},
      {"larger than a slot",
       [](HandoffState& s) {
         for (auto& l : s.leases) l.password = SecretBytes(4000);
         for (int i = 0; i < 4; ++i) {
           HandoffLease l;
           l.lease_id = "y";
           l.password = SecretBytes(4000);
           s.leases.push_back(std::move(l));
         }
       }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    HandoffState s = sample();
    c.spoil(s);
    Packet packet;
    CHECK_FALSE(encodeHandoffState(s, packet));
    CHECK(packet.size() == 0);
  }
}

TEST_CASE("malformed records are refused") {
  Packet packet;
  REQUIRE(encodeHandoffState(sample(), packet));
  const std::string good(packet.view());
  struct Case {
    const char* name;
    std::function<std::string(std::string)> spoil;
  };
  const Case cases[] = {
      {"truncated", [](std::string w) { return w.substr(0, w.size() - 1); }},
      {"trailing byte", [](std::string w) { return w + "x"; }},
      {"renewable flag 2",
       [](std::string w) {
         // token(4+11) accessor(4+10) expiry(8): the flag follows.
         w[kHeaderSize + 15 + 14 + 8] = 2;
         return w;
       }},
      {"control character in the accessor",
       [](std::string w) {
         w[kHeaderSize + 15 + 4] = '\n';
         return w;
       }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    std::string wire = c.spoil(good);
    // Keep the header's length right so only the payload is wrong.
    const std::uint32_t len = static_cast<std::uint32_t>(wire.size() - kHeaderSize);
    for (int i = 0; i < 4; ++i)
      wire[static_cast<std::size_t>(12 + i)] = static_cast<char>((len >> (8 * i)) & 0xff);
    Reader r(wire);
    HandoffState out;
    CHECK_FALSE((r.header() && decodeHandoffState(r, out)));
  }
}

TEST_CASE("slots: the newest valid one wins; a torn or tampered one falls back") {
  std::vector<unsigned char> memory(kHandoffBytes, 0);
  Packet out;
  std::uint64_t seq = 0;
  CHECK_FALSE(readHandoffSlots(memory, out, seq));  // zeroed: no record

  const std::uint64_t s1 = writeHandoffSlot(memory, 0, "first");
  const std::uint64_t s2 = writeHandoffSlot(memory, s1, "second");
  CHECK(s1 == 1);
  CHECK(s2 == 2);
  REQUIRE(readHandoffSlots(memory, out, seq));
  CHECK(out.view() == "second");
  CHECK(seq == 2);

  SUBCASE("a torn write of the newest slot leaves the older record") {
    memory[(2 % 2) * kHandoffSlotBytes + kHandoffSlotHeader + 1] ^= 0x01;
    REQUIRE(readHandoffSlots(memory, out, seq));
    CHECK(out.view() == "first");
    CHECK(seq == 1);
  }
  SUBCASE("a length beyond the slot is refused") {
    memory[(2 % 2) * kHandoffSlotBytes + 18] = 0x7f;
    REQUIRE(readHandoffSlots(memory, out, seq));
    CHECK(out.view() == "first");
  }
  SUBCASE("both slots damaged: no record") {
    memory[kHandoffSlotHeader] ^= 1;
    memory[kHandoffSlotBytes + kHandoffSlotHeader] ^= 1;
    CHECK_FALSE(readHandoffSlots(memory, out, seq));
  }
  SUBCASE("cleared: no record") {
    clearHandoffSlots(memory);
    CHECK_FALSE(readHandoffSlots(memory, out, seq));
  }
  SUBCASE("a body that does not fit is not written") {
    const std::string big(kMaxHandoffBody + 1, 'x');
    CHECK(writeHandoffSlot(memory, s2, big) == 0);
    CHECK(writeHandoffSlot(memory, s2, "") == 0);
    REQUIRE(readHandoffSlots(memory, out, seq));
    CHECK(out.view() == "second");
  }
}

TEST_CASE("the supervisor's memory: fixed size, shared-mappable, secret when the kernel can") {
  auto made = createHandoffMemory();
  REQUIRE(made);
  struct stat st {};
  REQUIRE(::fstat(made->fd, &st) == 0);
  CHECK(st.st_size == static_cast<off_t>(kHandoffBytes));
  void* base = ::mmap(nullptr, kHandoffBytes, PROT_READ | PROT_WRITE, MAP_SHARED, made->fd, 0);
  REQUIRE(base != MAP_FAILED);
  auto* bytes = static_cast<unsigned char*>(base);
  REQUIRE(writeHandoffSlot({bytes, kHandoffBytes}, 0, "record") == 1);
  // A second mapping of the same descriptor (the next keeper) sees the record.
  void* again = ::mmap(nullptr, kHandoffBytes, PROT_READ, MAP_SHARED, made->fd, 0);
  REQUIRE(again != MAP_FAILED);
  Packet out;
  std::uint64_t seq = 0;
  REQUIRE(readHandoffSlots({static_cast<const unsigned char*>(again), kHandoffBytes}, out, seq));
  CHECK(out.view() == "record");
  char probe[8];
  if (made->backing == HandoffBacking::SecretMemory) {
    MESSAGE("backing: memfd_secret");
    // Secret memory has no read(2): only a shared mapping reaches it.
    CHECK(::pread(made->fd, probe, sizeof probe, 0) < 0);
  } else {
    MESSAGE("backing: sealed memfd");
    CHECK(::ftruncate(made->fd, 0) != 0);  // sealed: cannot shrink under a mapping
  }
  ::munmap(base, kHandoffBytes);
  ::munmap(again, kHandoffBytes);
  ::close(made->fd);
}
