// relay_wire_test.cc: what the relay client puts on the wire, against a recording peer
// (tests/fakes/recording_smtp_peer.h, a scripted fake: Postfix cannot report round
// trips). Round trips per message are counted, not timed: a regression to one reply per
// command fails here. Also: CHUNKING, RSET only after a failed transaction, SIZE,
// 8BITMIME, SMTPUTF8, the SASL exchanges, the per-destination connection limit, and
// STARTTLS command injection (CVE-2011-0411 class).
#include <doctest/doctest.h>

#include "fakes/recording_smtp_peer.h"
#include "relay_harness.h"

using namespace relaytest;
using fakes::RecordingSmtpPeer;

namespace {

constexpr std::size_t kMessages = 10;

RecordingSmtpPeer::Script withEhlo(std::vector<std::string> ehlo) {
  RecordingSmtpPeer::Script s;
  s.ehlo = std::move(ehlo);
  return s;
}

std::shared_ptr<const SmtpCredential> oauthCredential() {
  auto c = fakes::testCredential("lease/1", "smtp/creds/app", "app@example.test");
  c.password = foundation::SecretBytes::copyOf(std::string_view("token-123"));
  c.kind = CredentialKind::OAuth2Token;
  return std::make_shared<const SmtpCredential>(std::move(c));
}

}  // namespace

TEST_CASE("round trips: PIPELINING, DATA: one flight per message after the first") {
  RecordingSmtpPeer peer(withEhlo({"PIPELINING", "SIZE 1000000", "AUTH PLAIN"}));
  Harness h(peer.port(), 1);
  for (std::size_t i = 0; i < kMessages; ++i) h.send();
  h.waitFor(kMessages);
  for (const auto& r : h.results) CHECK((r.outcome == SendOutcome::Accepted));
  CHECK(peer.messages().size() == kMessages);
  CHECK(peer.connections() == 1);
  // greeting, EHLO, AUTH; MAIL+RCPT+DATA; then each body with the next message's
  // MAIL+RCPT+DATA behind it; the last body alone.
  CHECK(peer.turns() == static_cast<int>(3 + 1 + kMessages));
  // The sender's own count says the same: every message after the first went behind
  // the previous end of data.
  const auto stats = h.sender->stats();
  CHECK(stats.on_new_connection == 1);
  CHECK(stats.connections_opened == 1);
  CHECK(stats.pipelined == kMessages - 1);
  CHECK(stats.on_idle_connection == 0);
}

TEST_CASE("round trips: a connection's last message takes QUIT behind its end of data") {
  RecordingSmtpPeer peer(withEhlo({"PIPELINING", "AUTH PLAIN"}));
  SmtpSettings settings = fakes::plaintextTo(peer.port());
  settings.max_messages_per_connection = 3;
  Harness h(settings, 1);
  for (int i = 0; i < 6; ++i) h.send();
  h.waitFor(6);
  for (const auto& r : h.results) CHECK((r.outcome == SendOutcome::Accepted));
  CHECK(peer.messages().size() == 6);
  CHECK(h.runUntil([&] { return peer.connections() == 2 && h.sender->pools() == 0; }));
  // Each connection's third body went with QUIT, not QUIT alone after its reply.
  CHECK(peer.pipelinedQuits() == 2);
  CHECK(count(peer.commands(), "QUIT") == 2);
  const auto stats = h.sender->stats();
  CHECK(stats.on_new_connection == 2);
  CHECK(stats.pipelined == 4);
}

TEST_CASE("round trips: bodies written from the message, behind one another, arrive intact") {
  // DATA bodies (dot-stuffed as pieces of the message) and BDAT chunks, with the next
  // transaction behind each: the peer gets every message as it was.
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < kMessages; ++i) {
    std::string text = "Subject: " + std::to_string(i) + "\r\n\r\n";
    for (std::size_t j = 0; j < i * 7; ++j)
      text += (j % 3 == 0 ? ".dot " : "line ") + std::to_string(j) + "\r\n";
    if (i % 2 == 1) text += "no final line break";
    texts.push_back(std::move(text));
  }
  for (const bool chunking : {false, true}) {
    CAPTURE(chunking);
    RecordingSmtpPeer peer(chunking ? withEhlo({"PIPELINING", "CHUNKING", "AUTH PLAIN"})
                                    : withEhlo({"PIPELINING", "AUTH PLAIN"}));
    Harness h(peer.port(), 1);
    auto credential = std::make_shared<const SmtpCredential>(fakes::testCredential());
    for (const auto& text : texts) h.sendWith(credential, kEnvelope, message(text));
    h.waitFor(kMessages);
    for (const auto& r : h.results) CHECK((r.outcome == SendOutcome::Accepted));
    const auto got = peer.messages();
    REQUIRE(got.size() == kMessages);
    for (std::size_t i = 0; i < kMessages; ++i) {
      const bool ends = texts[i].size() >= 2 && texts[i].substr(texts[i].size() - 2) == "\r\n";
      CHECK(got[i] == (ends ? texts[i] : texts[i] + "\r\n"));
    }
    CHECK(h.sender->stats().pipelined == (chunking ? 0 : kMessages - 1));
  }
}

TEST_CASE("round trips: PIPELINING + CHUNKING: one flight per message") {
  RecordingSmtpPeer peer(withEhlo({"PIPELINING", "CHUNKING", "AUTH PLAIN"}));
  Harness h(peer.port(), 1);
  for (std::size_t i = 0; i < kMessages; ++i) h.send();
  h.waitFor(kMessages);
  for (const auto& r : h.results) CHECK((r.outcome == SendOutcome::Accepted));
  REQUIRE(peer.messages().size() == kMessages);
  CHECK(peer.messages()[0] == *message());
  CHECK(count(peer.commands(), "BDAT ") == static_cast<int>(kMessages));
  CHECK(count(peer.commands(), "DATA") == 0);
  CHECK(peer.turns() == static_cast<int>(3 + kMessages));
}

TEST_CASE("round trips: without PIPELINING, one per command (the server's choice)") {
  RecordingSmtpPeer peer(withEhlo({"AUTH PLAIN"}));
  Harness h(peer.port(), 1);
  for (std::size_t i = 0; i < 3; ++i) h.send();
  h.waitFor(3);
  CHECK(peer.messages().size() == 3);
  // MAIL, RCPT, DATA, body: four per message.
  CHECK(peer.turns() == 3 + 3 * 4);
}

TEST_CASE("RSET only after a failed transaction; per-recipient replies") {
  RecordingSmtpPeer::Script script = withEhlo({"PIPELINING", "CHUNKING", "AUTH PLAIN"});
  script.refused_recipients = {"nobody@example.test"};
  RecordingSmtpPeer peer(script);
  Harness h(peer.port(), 1);
  auto credential = std::make_shared<const SmtpCredential>(fakes::testCredential());
  h.sendWith(credential, {"app@example.test", {"nobody@example.test"}});
  h.waitFor(1);
  h.sendWith(credential, {"app@example.test", {"a@example.test", "nobody@example.test"}});
  h.waitFor(2);
  h.sendWith(credential);
  h.waitFor(3);
  CHECK((h.results[0].outcome == SendOutcome::Rejected));
  CHECK(h.results[0].reply.code == 550);
  CHECK((h.results[1].outcome == SendOutcome::Accepted));
  REQUIRE(h.results[1].recipients.size() == 2);
  CHECK(h.results[1].recipients[0].reply.code == 250);
  CHECK(h.results[1].recipients[1].reply.code == 550);
  CHECK((h.results[2].outcome == SendOutcome::Accepted));
  const auto commands = peer.commands();
  CHECK(count(commands, "RSET") == 1);  // before the second MAIL only
  const auto rset = std::find(commands.begin(), commands.end(), "RSET");
  REQUIRE(rset != commands.end());
  CHECK(std::next(rset)->rfind("MAIL FROM:", 0) == 0);
  CHECK(peer.messages().size() == 2);
  CHECK(peer.connections() == 1);
}

TEST_CASE("RSET after a refused DATA transaction, pipelined") {
  RecordingSmtpPeer::Script script = withEhlo({"PIPELINING", "AUTH PLAIN"});
  script.refused_recipients = {"nobody@example.test"};
  RecordingSmtpPeer peer(script);
  Harness h(peer.port(), 1);
  auto credential = std::make_shared<const SmtpCredential>(fakes::testCredential());
  h.sendWith(credential, {"app@example.test", {"nobody@example.test"}});
  h.sendWith(credential);
  h.waitFor(2);
  CHECK((h.results[0].outcome == SendOutcome::Rejected));
  CHECK((h.results[1].outcome == SendOutcome::Accepted));
  CHECK(count(peer.commands(), "RSET") == 1);
  CHECK(count(peer.commands(), "MAIL") == 2);
}

TEST_CASE("SIZE, 8BITMIME and SMTPUTF8 only as offered") {
  SUBCASE("offered") {
    RecordingSmtpPeer peer(
        withEhlo({"PIPELINING", "SIZE 1000", "8BITMIME", "SMTPUTF8", "AUTH PLAIN"}));
    Harness h(peer.port());
    auto credential = std::make_shared<const SmtpCredential>(fakes::testCredential());
    h.sendWith(credential, {"app@example.test", {"j\xc3\xb6rg@example.test"}},
               message("Subject: t\r\n\r\nk\xc3\xa4se\r\n"));
    h.waitFor(1);
    CHECK((h.results[0].outcome == SendOutcome::Accepted));
    CHECK(count(peer.commands(), "MAIL FROM:<app@example.test> SIZE=21 BODY=8BITMIME SMTPUTF8") ==
          1);
    h.sendWith(credential, kEnvelope, message(std::string(2000, 'x')));
    h.waitFor(2);
    CHECK((h.results[1].outcome == SendOutcome::Rejected));  // over SIZE: not even tried
    CHECK(count(peer.commands(), "MAIL") == 1);
  }
  SUBCASE("not offered") {
    RecordingSmtpPeer peer(withEhlo({"PIPELINING", "AUTH PLAIN"}));
    Harness h(peer.port());
    auto credential = std::make_shared<const SmtpCredential>(fakes::testCredential());
    h.sendWith(credential, kEnvelope, message("Subject: t\r\n\r\nk\xc3\xa4se\r\n"));
    h.waitFor(1);
    CHECK(count(peer.commands(), "MAIL FROM:<app@example.test>") == 1);
    CHECK(count(peer.commands(), "MAIL FROM:<app@example.test> ") == 0);
    h.sendWith(credential, {"app@example.test", {"j\xc3\xb6rg@example.test"}});
    h.waitFor(2);
    CHECK((h.results[1].outcome == SendOutcome::Rejected));
    CHECK(h.results[1].detail.find("SMTPUTF8") != std::string::npos);
  }
}

TEST_CASE("SASL: PLAIN with initial response; LOGIN when only LOGIN is offered") {
  SUBCASE("PLAIN") {
    RecordingSmtpPeer peer(withEhlo({"AUTH LOGIN PLAIN"}));
    Harness h(peer.port());
    h.send();
    h.waitFor(1);
    CHECK((h.results[0].outcome == SendOutcome::Accepted));
    CHECK(count(peer.commands(), "AUTH PLAIN AHVzZXIAcGFzcw==") == 1);  // \0user\0pass
  }
  SUBCASE("LOGIN") {
    RecordingSmtpPeer peer(withEhlo({"AUTH LOGIN"}));
    Harness h(peer.port());
    h.send();
    h.waitFor(1);
    CHECK((h.results[0].outcome == SendOutcome::Accepted));
    const auto c = peer.commands();
    const auto at = std::find(c.begin(), c.end(), "AUTH LOGIN");
    REQUIRE(std::distance(at, c.end()) >= 3);
    CHECK(*(at + 1) == "dXNlcg==");  // user
    CHECK(*(at + 2) == "cGFzcw==");  // pass
  }
  SUBCASE("no usable mechanism") {
    RecordingSmtpPeer peer(withEhlo({"AUTH CRAM-MD5"}));
    Harness h(peer.port());
    h.send();
    h.waitFor(1);
    CHECK((h.results[0].outcome == SendOutcome::Rejected));
    CHECK(count(peer.commands(), "AUTH") == 0);
  }
}

TEST_CASE("SASL: an OAuth2 token goes by OAUTHBEARER, else XOAUTH2, never PLAIN") {
  SUBCASE("OAUTHBEARER") {
    RecordingSmtpPeer peer(withEhlo({"AUTH PLAIN XOAUTH2 OAUTHBEARER"}));
    Harness h(peer.port());
    h.sendWith(oauthCredential());
    h.waitFor(1);
    CHECK((h.results[0].outcome == SendOutcome::Accepted));
    // base64("n,a=app@example.test,\x01auth=Bearer token-123\x01\x01")
    CHECK(count(peer.commands(),
                "AUTH OAUTHBEARER bixhPWFwcEBleGFtcGxlLnRlc3QsAWF1dGg9QmVhcmVyIHRva2VuLTEyMwEB") ==
          1);
  }
  SUBCASE("XOAUTH2") {
    RecordingSmtpPeer peer(withEhlo({"AUTH PLAIN XOAUTH2"}));
    Harness h(peer.port());
    h.sendWith(oauthCredential());
    h.waitFor(1);
    CHECK((h.results[0].outcome == SendOutcome::Accepted));
    // base64("user=app@example.test\x01auth=Bearer token-123\x01\x01")
    CHECK(count(peer.commands(),
                "AUTH XOAUTH2 dXNlcj1hcHBAZXhhbXBsZS50ZXN0AWF1dGg9QmVhcmVyIHRva2VuLTEyMwEB") == 1);
  }
  SUBCASE("a refused token: the error challenge is acknowledged, the 535 is AuthRefused") {
    RecordingSmtpPeer::Script script = withEhlo({"AUTH OAUTHBEARER"});
    script.auth = [](const std::string&, int step) {
      return step == 0 ? std::string("334 eyJzdGF0dXMiOiI0MDEifQ==\r\n")
                       : std::string("535 5.7.8 Error: authentication failed\r\n");
    };
    RecordingSmtpPeer peer(script);
    Harness h(peer.port());
    h.sendWith(oauthCredential());
    h.waitFor(1);
    CHECK((h.results[0].outcome == SendOutcome::AuthRefused));
    CHECK(h.results[0].reply.code == 535);
    CHECK(count(peer.commands(), "AQ==") == 1);
  }
  SUBCASE("a password is never offered to an OAuth-only server") {
    RecordingSmtpPeer peer(withEhlo({"AUTH XOAUTH2 OAUTHBEARER"}));
    Harness h(peer.port());
    h.send();
    h.waitFor(1);
    CHECK((h.results[0].outcome == SendOutcome::Rejected));
    CHECK(count(peer.commands(), "AUTH") == 0);
  }
}

TEST_CASE("per-destination concurrency: at most max_connections at once") {
  RecordingSmtpPeer peer(withEhlo({"PIPELINING", "CHUNKING", "AUTH PLAIN"}));
  Harness h(peer.port(), 3);
  for (int i = 0; i < 12; ++i) h.send();
  CHECK(h.sender->active() == 3);
  h.waitFor(12);
  CHECK(peer.connections() == 3);
  CHECK(peer.messages().size() == 12);
}

TEST_CASE("STARTTLS: bytes after the server's 220 are refused (CVE-2011-0411 class)") {
  RecordingSmtpPeer::Script script = withEhlo({"STARTTLS", "PIPELINING", "AUTH PLAIN"});
  // A man in the middle (or a broken server) appends a reply that the client would read
  // as if it had come over TLS.
  script.starttls_reply = "220 2.0.0 Ready to start TLS\r\n250-injected\r\n250 AUTH PLAIN\r\n";
  RecordingSmtpPeer peer(script);
  SmtpSettings settings = fakes::plaintextTo(peer.port());
  settings.tls = SmtpTls::StartTls;
  settings.allow_insecure = false;
  settings.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  Harness h(settings);
  h.send();
  h.waitFor(1);
  CHECK((h.results[0].outcome == SendOutcome::TlsFailure));
  CHECK(h.results[0].detail.find("after its 220 to STARTTLS") != std::string::npos);
  const auto commands = peer.commands();
  REQUIRE_FALSE(commands.empty());
  CHECK(commands.back() == "STARTTLS");  // nothing after it, in the clear or otherwise
  CHECK(count(commands, "AUTH") == 0);
}

TEST_CASE("STARTTLS refused by the server: TLS failure, no AUTH") {
  RecordingSmtpPeer peer(withEhlo({"STARTTLS", "AUTH PLAIN"}));  // answers 454
  SmtpSettings settings = fakes::plaintextTo(peer.port());
  settings.tls = SmtpTls::StartTls;
  settings.allow_insecure = false;
  settings.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  Harness h(settings);
  h.send();
  h.waitFor(1);
  CHECK((h.results[0].outcome == SendOutcome::TlsFailure));
  CHECK(count(peer.commands(), "AUTH") == 0);
}

TEST_CASE("SASL: a server that offers no AUTH at all gets none, and the message") {
  RecordingSmtpPeer peer(withEhlo({"PIPELINING"}));
  Harness h(peer.port());
  h.send();
  h.waitFor(1);
  CHECK((h.results[0].outcome == SendOutcome::Accepted));
  CHECK(count(peer.commands(), "AUTH") == 0);
  CHECK(peer.messages().size() == 1);
}
