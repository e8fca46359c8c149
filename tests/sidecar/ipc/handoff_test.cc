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

#include <algorithm>
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

TEST_CASE("slots: the newest record wins; a write torn by a crash leaves the previous one") {
  std::vector<unsigned char> memory(kHandoffBytes, 0);
  Packet out;
  std::uint64_t seq = 0;
  CHECK_FALSE(readHandoffSlots(memory, out, seq));  // zeroed: no record

  const std::uint64_t s1 = writeHandoffSlot(memory, 0, "first");
  CHECK(s1 == 1);
  REQUIRE(readHandoffSlots(memory, out, seq));
  CHECK(out.view() == "first");
  // The second write, as a crash would leave it at each point: only a prefix of its
  // slot's bytes landed (the keeper wrote them in order), the rest is as before.
  std::vector<unsigned char> finished = memory;
  const std::uint64_t s2 = writeHandoffSlot(finished, s1, "second");
  CHECK(s2 == 2);
  const std::size_t slot2 = (s2 % 2) * kHandoffSlotBytes;
  for (const std::size_t landed : {std::size_t{0}, std::size_t{4}, std::size_t{24},
                                   kHandoffSlotHeader, kHandoffSlotHeader + 3}) {
    CAPTURE(landed);
    std::vector<unsigned char> torn = memory;
    std::copy_n(finished.begin() + static_cast<std::ptrdiff_t>(slot2), landed,
                torn.begin() + static_cast<std::ptrdiff_t>(slot2));
    REQUIRE(readHandoffSlots(torn, out, seq));
    CHECK(out.view() == "first");
    CHECK(seq == 1);
  }
  // Complete: the new record wins, and the previous one is gone (zeroed).
  REQUIRE(readHandoffSlots(finished, out, seq));
  CHECK(out.view() == "second");
  CHECK(seq == 2);
  const std::size_t slot1 = (s1 % 2) * kHandoffSlotBytes;
  CHECK(std::all_of(finished.begin() + static_cast<std::ptrdiff_t>(slot1),
                    finished.begin() + static_cast<std::ptrdiff_t>(slot1 + kHandoffSlotBytes),
                    [](unsigned char c) { return c == 0; }));

  SUBCASE("a changed byte anywhere in the record: no record") {
    for (const std::size_t at : {std::size_t{0}, std::size_t{8}, std::size_t{16}, std::size_t{30},
                                 kHandoffSlotHeader + 1}) {
      CAPTURE(at);
      std::vector<unsigned char> spoiled = finished;
      spoiled[slot2 + at] ^= 0x01;
      CHECK_FALSE(readHandoffSlots(spoiled, out, seq));
    }
  }
  SUBCASE("a length beyond the slot is refused") {
    finished[slot2 + 18] = 0x7f;
    CHECK_FALSE(readHandoffSlots(finished, out, seq));
  }
  SUBCASE("cleared: no record") {
    clearHandoffSlots(finished);
    CHECK_FALSE(readHandoffSlots(finished, out, seq));
  }
  SUBCASE("a body that does not fit is not written, and the record stays") {
    const std::string big(kMaxHandoffBody + 1, 'x');
    CHECK(writeHandoffSlot(finished, s2, big) == 0);
    CHECK(writeHandoffSlot(finished, s2, "") == 0);
    REQUIRE(readHandoffSlots(finished, out, seq));
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
