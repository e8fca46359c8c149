// ipc_test.cc: keeper <-> worker message encoding; malformed messages are refused.
#include "sidecar/ipc/ipc.h"

#include <doctest/doctest.h>

#include <functional>

using namespace sidecar::ipc;
using foundation::SecretBytes;

namespace {

std::string bytesOf(const Packet& p) {
  return std::string(p.view());
}

SecretBytes sb(std::string_view v) {
  return SecretBytes::copyOf(v);
}

struct Init {
  Init() { foundation::initSecretMemoryOrDie(); }
} init;

}  // namespace

TEST_CASE("credential round trip") {
  Packet packet;
  REQUIRE(encodeCredential(42, "database/creds/app", "database/creds/app/abc", 7,
                           CredentialKind::Password, sb("smtp-user"), sb("p4ss"), packet));
  const std::string wire = bytesOf(packet);
  Reader r(wire);
  REQUIRE(r.header());
  CHECK((r.type() == MessageType::Credential));
  CHECK(r.requestId() == 42);
  CredentialView out;
  REQUIRE(decodeCredentialView(r, out));
  CHECK(out.credential_path == "database/creds/app");
  CHECK(out.lease_id == "database/creds/app/abc");
  CHECK(out.generation == 7);
  CHECK(out.username == "smtp-user");
  CHECK(out.password == "p4ss");
  CHECK((out.kind == CredentialKind::Password));
}

TEST_CASE("a credential read in place points into the packet") {
  Packet packet;
  REQUIRE(encodeCredential(9, "smtp/creds/app", "smtp/creds/app/x", 3, CredentialKind::Password,
                           sb("user"), sb("secret"), packet));
  Reader r(packet.view());
  REQUIRE(r.header());
  CredentialView view;
  REQUIRE(decodeCredentialView(r, view));
  CHECK(view.credential_path == "smtp/creds/app");
  CHECK(view.lease_id == "smtp/creds/app/x");
  CHECK(view.generation == 3);
  CHECK(view.username == "user");
  CHECK(view.password == "secret");
  // No copy: the views lie inside the packet's locked memory.
  const auto inside = [&](std::string_view v) {
    return v.data() >= packet.view().data() &&
           v.data() + v.size() <= packet.view().data() + packet.view().size();
  };
  CHECK(inside(view.username));
  CHECK(inside(view.password));
}

TEST_CASE("every message type round-trips") {
  Packet packet;
  REQUIRE(encodeCredentialRequest(5, 3, packet));
  {
    const auto wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    CHECK(r.requestId() == 5);
    std::uint32_t index = 0;
    REQUIRE(decodeCredentialRequest(r, index));
    CHECK(index == 3);
  }
  REQUIRE(encodeHello(packet));
  {
    const auto wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    CHECK(decodeHello(r));
  }
  REQUIRE(encodeNoCredential(3, packet));
  {
    const auto wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    CHECK(r.requestId() == 3);
    REQUIRE(decodeNoCredential(r));
  }
  REQUIRE(encodePeerChannel(packet));
  {
    const auto wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    REQUIRE(decodePeerChannel(r));
  }
  REQUIRE(encodeLease(MessageType::CredentialRetired, {"lease/1"}, packet));
  {
    const auto wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    LeaseMessage m;
    REQUIRE(decodeLease(r, m));
    CHECK(m.lease_id == "lease/1");
  }
  REQUIRE(encodeStatus({true, 0, {}}, packet));
  {
    const auto wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    StatusMessage m;
    REQUIRE(decodeStatus(r, m));
    CHECK(m.ready);
  }
  // Issue 14: how long the credential stays valid, and why the keeper is not ready.
  REQUIRE(encodeStatus({false, 42, "approle_locked_out"}, packet));
  {
    const auto wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    StatusMessage m;
    REQUIRE(decodeStatus(r, m));
    CHECK_FALSE(m.ready);
    CHECK(m.valid_seconds == 42);
    CHECK(m.reason == "approle_locked_out");
  }
  // A reason is a fixed word: anything else (a forged log line, JSON) is malformed.
  REQUIRE(encodeStatus({false, 0, "no\nready"}, packet));
  {
    const auto wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    StatusMessage m;
    CHECK_FALSE(decodeStatus(r, m));
  }
  REQUIRE(encodeSecretId(foundation::SecretBytes::copyOf(std::string_view("s-1d")), packet));
  {
    const auto wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    foundation::SecretBytes secret_id;
    REQUIRE(decodeSecretId(r, secret_id));
    CHECK(secret_id.reveal([](std::string_view v) { return v == "s-1d"; }));
  }
}

TEST_CASE("malformed messages are refused") {
  Packet packet;
  REQUIRE(encodeCredential(1, "p", "l", 1, CredentialKind::Password, sb("u"), sb("p"), packet));
  const std::string good = bytesOf(packet);
  struct Case {
    const char* name;
    std::string wire;
  };
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  std::string bad_version = good;
  bad_version[4] = 9;
  std::string bad_type = good;
  bad_type[6] = 99;
  std::string long_length = good;
  long_length[12] = static_cast<char>(long_length[12] + 1);
  std::string trailing = good + "x";
  std::string truncated = good.substr(0, good.size() - 1);
  std::string huge_field = good;
  huge_field[kHeaderSize] = '\xff';  // credential_path length byte
  const Case cases[] = {
      {"empty", ""},
      {"bad magic", bad_magic},
      {"bad version", bad_version},
      {"bad type", bad_type},
      {"length mismatch", long_length},
      {"trailing byte", trailing},
      {"truncated", truncated},
      {"field longer than packet", huge_field},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    Reader r(c.wire);
    CredentialView view;
    CHECK_FALSE((r.header() && decodeCredentialView(r, view)));
  }
}

TEST_CASE("a credential request must carry exactly a path index") {
  Packet packet;
  REQUIRE(encodeCredentialRequest(1, 0, packet));
  std::string good = bytesOf(packet);
  // A version-1 request (no payload) and one with a trailing byte are malformed.
  std::string v1 = good.substr(0, kHeaderSize);
  v1[12] = 0;
  std::string trailing = good + "x";
  trailing[12] = static_cast<char>(trailing[12] + 1);
  for (const auto& wire : {v1, trailing}) {
    Reader r(wire);
    std::uint32_t index = 0;
    const bool accepted = r.header() && decodeCredentialRequest(r, index);
    CHECK_FALSE(accepted);
  }
}

TEST_CASE("a decoder refuses a message of another type") {
  Packet packet;
  REQUIRE(encodeStatus({false, 0, {}}, packet));
  const auto wire = bytesOf(packet);
  Reader r(wire);
  REQUIRE(r.header());
  CredentialView out;
  CHECK_FALSE(decodeCredentialView(r, out));
}

TEST_CASE("oversized messages cannot be built") {
  Packet packet;
  CHECK_FALSE(Writer(MessageType::Hello, 0, packet).str(std::string(kMaxPacket, 'a')).finish());
  CHECK(packet.size() == 0);
}

TEST_CASE("a packet is wiped before it is reused") {
  Packet packet;
  REQUIRE(encodeCredential(1, "path", "lease", 1, CredentialKind::Password, sb("user"),
                           sb("secret-password"), packet));
  const std::size_t long_size = packet.size();
  REQUIRE(encodeCredentialRequest(2, 0, packet));
  CHECK(packet.size() < long_size);
  const std::string_view after(packet.view().data(), long_size);
  CHECK(after.find("secret-password") == std::string_view::npos);
}

namespace {

sidecar::telemetry::KeeperFigures sampleFigures() {
  sidecar::telemetry::KeeperFigures f;
  f.leases_active = 2;
  f.lease_renewals = 8;
  f.lease_renewal_failures = 1;
  f.token_renewals = 107;
  f.token_renewal_failures = 3;
  f.logins = 2;
  f.login_failures = 1;
  f.rotations = {{"max_ttl", 1}, {"refused", 4}};
  f.expiry = {{"smtp/creds/example-app", 3599}};
  f.vault_requests = {{"approle_login", "2xx", 2}, {"lease_renew", "error", 5}};
  sidecar::telemetry::KeeperFigures::Latency l;
  l.operation = "read";
  l.buckets[2] = 3;
  l.buckets[12] = 1;
  l.sum_microseconds = 40123456;
  f.vault_latency = {l};
  f.secret_id_expiry_known = true;
  f.secret_id_expires_seconds = 86399;
  return f;
}

}  // namespace

TEST_CASE("metrics request and keeper figures round-trip") {
  Packet packet;
  REQUIRE(encodeMetricsRequest(77, packet));
  {
    const auto wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    CHECK((r.type() == MessageType::MetricsRequest));
    CHECK(r.requestId() == 77);
    CHECK(decodeMetricsRequest(r));
  }
  const auto figures = sampleFigures();
  REQUIRE(encodeMetrics(77, figures, packet));
  const auto wire = bytesOf(packet);
  Reader r(wire);
  REQUIRE(r.header());
  CHECK(r.requestId() == 77);
  sidecar::telemetry::KeeperFigures out;
  REQUIRE(decodeMetrics(r, out));
  CHECK(out == figures);
}

TEST_CASE("the largest keeper figures fit one packet; longer lists are cut") {
  using sidecar::telemetry::kMaxFigureEntries;
  sidecar::telemetry::KeeperFigures f;
  for (std::size_t i = 0; i < kMaxFigureEntries + 5; ++i) {
    const std::string n(64, static_cast<char>('a' + i % 26));
    f.rotations.push_back({n, i});
    f.expiry.push_back({std::string(256, 'p'), i});
    f.vault_requests.push_back({n, "5xx", i});
    sidecar::telemetry::KeeperFigures::Latency l;
    l.operation = n;
    l.buckets.fill(~std::uint64_t{0});
    f.vault_latency.push_back(l);
  }
  Packet packet;
  REQUIRE(encodeMetrics(1, f, packet));
  const auto wire = bytesOf(packet);
  Reader r(wire);
  REQUIRE(r.header());
  sidecar::telemetry::KeeperFigures out;
  REQUIRE(decodeMetrics(r, out));
  CHECK(out.rotations.size() == kMaxFigureEntries);
  CHECK(out.expiry.size() == kMaxFigureEntries);
  CHECK(out.vault_requests.size() == kMaxFigureEntries);
  CHECK(out.vault_latency.size() == kMaxFigureEntries);
}

TEST_CASE("malformed keeper figures are refused") {
  struct Case {
    const char* name;
    std::function<void(sidecar::telemetry::KeeperFigures&)> change;
  };
  const Case cases[] = {
      {"operation with a slash", [](auto& f) { f.vault_requests[0].operation = "read/x"; }},
      {"operation with a quote", [](auto& f) { f.vault_latency[0].operation = "a\"b"; }},
      {"empty reason", [](auto& f) { f.rotations[0].name = ""; }},
      {"upper-case reason", [](auto& f) { f.rotations[0].name = "MaxTTL"; }},
      {"unknown status class", [](auto& f) { f.vault_requests[0].status_class = "6xx"; }},
      {"newline in a path", [](auto& f) { f.expiry[0].path = "smtp/creds/a\nb 1"; }},
      {"empty path", [](auto& f) { f.expiry[0].path = ""; }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto f = sampleFigures();
    c.change(f);
    Packet packet;
    REQUIRE(encodeMetrics(1, f, packet));
    const auto wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    sidecar::telemetry::KeeperFigures out;
    CHECK_FALSE(decodeMetrics(r, out));
  }
  // Framing: a list count above the limit, a cut message, a trailing byte.
  Packet packet;
  REQUIRE(encodeMetrics(1, sampleFigures(), packet));
  const std::string good = bytesOf(packet);
  std::string too_many = good;
  const std::size_t rotations_count = kHeaderSize + 13 * 8;  // 13 u64 figures first
  too_many[rotations_count] = 65;
  const std::string wires[] = {too_many, good.substr(0, good.size() - 1), good + "x"};
  for (const auto& wire : wires) {
    Reader r(wire);
    sidecar::telemetry::KeeperFigures out;
    CHECK_FALSE((r.header() && decodeMetrics(r, out)));
  }
  // Another type's decoder refuses it, and it refuses another type.
  Reader r(good);
  REQUIRE(r.header());
  CHECK_FALSE(decodeMetricsRequest(r));
  REQUIRE(encodeStatus({true, 0, {}}, packet));
  const auto status = bytesOf(packet);
  Reader s(status);
  REQUIRE(s.header());
  sidecar::telemetry::KeeperFigures out;
  CHECK_FALSE(decodeMetrics(s, out));
}

TEST_CASE("the spool key lost answer round-trips; empty or control characters are malformed") {
  Packet packet;
  REQUIRE(encodeSpoolKeyLost(12, "HTTP 400: encryption key not found", packet));
  {
    const std::string wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    CHECK((r.type() == MessageType::SpoolKeyLost));
    std::string reason;
    REQUIRE(decodeSpoolKeyLost(r, reason));
    CHECK(reason == "HTTP 400: encryption key not found");
    CHECK(r.requestId() == 12);
  }
  // The encoder makes any text fit: control bytes become spaces, long text is cut,
  // nothing becomes a default line.
  struct Case {
    std::string in;
    std::string out;
  };
  for (const auto& c : {Case{"a\nb\tc", "a b c"},
                        Case{std::string(kMaxSpoolKeyLostReason + 9, 'x'),
                             std::string(kMaxSpoolKeyLostReason, 'x')},
                        Case{"", "transit cannot decrypt the spool's data key"}}) {
    REQUIRE(encodeSpoolKeyLost(1, c.in, packet));
    const std::string wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    std::string reason;
    REQUIRE(decodeSpoolKeyLost(r, reason));
    CHECK(reason == c.out);
  }
  // Hand-built: empty, a newline (a forged log line), too long, trailing bytes.
  for (const auto& bad :
       {std::string(), std::string("a\nb"), std::string(kMaxSpoolKeyLostReason + 1, 'x')}) {
    (void)Writer(MessageType::SpoolKeyLost, 1, packet).str(bad).finish();
    const std::string wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    std::string reason;
    CHECK_FALSE(decodeSpoolKeyLost(r, reason));
  }
  (void)Writer(MessageType::SpoolKeyLost, 1, packet).str("gone").u32(7).finish();
  {
    const std::string wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    std::string reason;
    CHECK_FALSE(decodeSpoolKeyLost(r, reason));
  }
}

TEST_CASE("the spool key request and answer round-trip; a key of another size is refused") {
  Packet packet;
  REQUIRE(encodeSpoolKeyRequest(9, "vault:v1:abc=", packet));
  {
    const std::string wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    std::string wrapped;
    REQUIRE(decodeSpoolKeyRequest(r, wrapped));
    CHECK(wrapped == "vault:v1:abc=");
    CHECK(r.requestId() == 9);
  }
  REQUIRE(encodeSpoolKeyRequest(10, "", packet));  // "": a new key
  {
    const std::string wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    std::string wrapped = "x";
    REQUIRE(decodeSpoolKeyRequest(r, wrapped));
    CHECK(wrapped.empty());
  }
  CHECK(!encodeSpoolKeyRequest(1, std::string(kMaxWrappedKey + 1, 'a'), packet));
  REQUIRE(encodeSpoolKey(11, "vault:v1:abc=", sb(std::string(kSpoolKeyBytes, 'k')), packet));
  {
    const std::string wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    std::string wrapped;
    SecretBytes key;
    REQUIRE(decodeSpoolKey(r, wrapped, key));
    CHECK(wrapped == "vault:v1:abc=");
    CHECK(key.equals(std::string(kSpoolKeyBytes, 'k')));
  }
  CHECK(!encodeSpoolKey(11, "vault:v1:abc=", sb("short"), packet));
  // Hand-built: a 16-byte key, and an empty wrapped form, are both malformed.
  for (const auto& [wrapped, key] :
       {std::pair<std::string, std::string>{"vault:v1:a", "k16k16k16k16k16k"},
        {"", std::string(kSpoolKeyBytes, 'k')}}) {
    (void)Writer(MessageType::SpoolKey, 1, packet).str(wrapped).secret(sb(key)).finish();
    const std::string wire = bytesOf(packet);
    Reader r(wire);
    REQUIRE(r.header());
    std::string w;
    SecretBytes k;
    CHECK(!decodeSpoolKey(r, w, k));
  }
}

TEST_CASE("keeper figures: the secret_id's expiry flag is 0 or 1") {
  Packet packet;
  REQUIRE(encodeMetrics(1, sampleFigures(), packet));
  std::string wire = bytesOf(packet);
  // The flag is the u32 before the last u64.
  wire[wire.size() - 12] = 2;
  Reader r(wire);
  REQUIRE(r.header());
  sidecar::telemetry::KeeperFigures out;
  CHECK_FALSE(decodeMetrics(r, out));
}

TEST_CASE("the credential's kind crosses, and a token may be longer than a password") {
  // A JWT access token of 12 KiB (Entra ID's with many claims are under 8 KiB).
  const std::string token(12 * 1024, 't');
  struct Case {
    CredentialKind kind;
    std::string secret;
    bool decodes;
  };
  const Case cases[] = {
      {CredentialKind::Password, "p4ss", true},
      {CredentialKind::OAuth2Token, "eyJhbGciOi.e30.sig", true},
      {CredentialKind::OAuth2Token, token, true},
      {CredentialKind::Password, token, false},  // no password is that long
      {CredentialKind::OAuth2Token, std::string(kMaxTokenBytes + 1, 't'), false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.secret.size());
    Packet packet;
    REQUIRE(encodeCredential(5, "oauth2:m365", "oauth2:m365#1", 2, c.kind, sb("app@example.test"),
                             sb(c.secret), packet));
    Reader r(packet.view());
    REQUIRE(r.header());
    CredentialView view;
    CHECK(decodeCredentialView(r, view) == c.decodes);
    if (c.decodes) {
      CHECK((view.kind == c.kind));
      CHECK(view.password.size() == c.secret.size());
    }
  }
}

TEST_CASE("a credential of an unknown kind is malformed") {
  Packet packet;
  REQUIRE(
      encodeCredential(5, "p", "l", 1, static_cast<CredentialKind>(7), sb("u"), sb("p"), packet));
  Reader r(packet.view());
  REQUIRE(r.header());
  CredentialView view;
  CHECK_FALSE(decodeCredentialView(r, view));
}
