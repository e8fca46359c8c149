// asio_smtp_sender_test.cc: the relay client against a scripted SMTP peer, with the
// behaviours the libcurl senders had (reply classes, the message on the wire, STARTTLS
// required, connection reuse per credential, the connection limit, a refusal on a
// reused connection confirmed on a new one, retirement closing a credential's
// connections, timeouts) on a server that offers no PIPELINING (one reply per command).
#include <doctest/doctest.h>

#include <thread>
#include <utility>

#include "fakes/scripted_smtp_server.h"
#include "relay_harness.h"

using namespace relaytest;
using fakes::plaintextTo;
using fakes::ScriptedSmtpServer;

namespace {

const mailformat::Envelope kTwo{"app@example.test", {"a@example.test", "b@example.test"}};
const std::string kMessage = "Subject: t\r\n\r\nline\r\n.dot line\r\n";

ScriptedSmtpServer::Script failAt(std::string command_prefix, std::string reply) {
  ScriptedSmtpServer::Script script;
  script.reply = [=](const std::string& command) {
    if (command.rfind(command_prefix, 0) == 0) return reply;
    return ScriptedSmtpServer::defaultReply(command);
  };
  return script;
}

SendResult sendOne(const SmtpSettings& settings, const mailformat::Envelope& envelope = kTwo) {
  Harness h(settings);
  h.sendWith(std::make_shared<const SmtpCredential>(fakes::testCredential()), envelope,
             message(kMessage));
  h.waitFor(1);
  return h.results[0];
}

}  // namespace

TEST_CASE("relay: an accepted message arrives intact, dot-stuffing undone by the peer") {
  ScriptedSmtpServer server({});
  auto got = sendOne(plaintextTo(server.port()));
  CHECK((got.outcome == SendOutcome::Accepted));
  CHECK(got.reply.code == 250);
  CHECK(got.reply.text == "2.0.0 Ok: queued as FAKE");
  REQUIRE(server.messages().size() == 1);
  CHECK(server.messages()[0] == kMessage);
  const auto transcript = server.transcript();
  CHECK(count(transcript, "MAIL FROM:<app@example.test>") == 1);
  CHECK(count(transcript, "RCPT TO:<b@example.test>") == 1);
  CHECK(count(transcript, "RSET") == 0);
}

TEST_CASE("relay: the DATA bytes on the wire, byte for byte (written from the message itself)") {
  // Bodies are written as pieces of the message (writev); one with more lines starting
  // with '.' than the sender writes as pieces is copied: both give the same bytes.
  std::string many_dots;
  std::string many_dots_stuffed;
  for (int i = 0; i < 100; ++i) {
    many_dots += ".line " + std::to_string(i) + "\r\n";
    many_dots_stuffed += "..line " + std::to_string(i) + "\r\n";
  }
  struct Case {
    const char* name;
    std::string message;
    std::string wire;
  };
  const Case cases[] = {
      {"plain", "Subject: t\r\n\r\nbody\r\n", "Subject: t\r\n\r\nbody\r\n.\r\n"},
      {"a dot line", kMessage, "Subject: t\r\n\r\nline\r\n..dot line\r\n.\r\n"},
      {"a leading dot", ".first\r\nnext\r\n", "..first\r\nnext\r\n.\r\n"},
      {"no final CRLF", "Subject: t\r\n\r\nlast", "Subject: t\r\n\r\nlast\r\n.\r\n"},
      {"a lone dot line, no final CRLF", "a\r\n.", "a\r\n..\r\n.\r\n"},
      {"dots inside lines stay", "a.b\r\n x.\r\n", "a.b\r\n x.\r\n.\r\n"},
      {"empty", "", "\r\n.\r\n"},
      {"many dot lines (copied)", many_dots, many_dots_stuffed + ".\r\n"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    ScriptedSmtpServer server({});
    Harness h(plaintextTo(server.port()));
    h.sendWith(std::make_shared<const SmtpCredential>(fakes::testCredential()), kTwo,
               message(c.message));
    h.waitFor(1);
    CHECK((h.results[0].outcome == SendOutcome::Accepted));
    const auto raw = server.rawMessages();
    REQUIRE(raw.size() == 1);
    CHECK(raw[0] == c.wire);
  }
}

TEST_CASE("relay: reply classes") {
  struct Case {
    const char* name;
    const char* at;
    const char* reply;
    SendOutcome want;
    int want_code;
  };
  const Case cases[] = {
      {"auth refused", "AUTH", "535 5.7.8 Error: authentication failed\r\n",
       SendOutcome::AuthRefused, 535},
      // Issue 14: only 535 costs the credential. Dovecot's database down (454), TLS or
      // mechanism trouble (530, 534) are not a refusal of this login.
      {"auth backend down", "AUTH", "454 4.7.0 Temporary authentication failure\r\n",
       SendOutcome::TemporaryFailure, 454},
      {"auth needs tls", "AUTH", "530 5.7.0 Must issue a STARTTLS command first\r\n",
       SendOutcome::Rejected, 530},
      {"auth mechanism too weak", "AUTH", "534 5.7.9 Authentication mechanism is too weak\r\n",
       SendOutcome::Rejected, 534},
      {"sender refused", "MAIL", "553 5.7.1 Sender address rejected: not owned by user\r\n",
       SendOutcome::Rejected, 553},
      {"recipient deferred", "RCPT", "450 4.2.0 Mailbox busy\r\n", SendOutcome::TemporaryFailure,
       450},
      {"recipient refused", "RCPT", "550 5.1.1 No such user\r\n", SendOutcome::Rejected, 550},
      {"data refused", "DATA", "554 5.7.0 Not now\r\n", SendOutcome::Rejected, 554},
      {"server shutting down", "MAIL", "421 4.3.2 Shutting down\r\n", SendOutcome::TemporaryFailure,
       421},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      ScriptedSmtpServer server(failAt(c.at, c.reply));
      auto got = sendOne(plaintextTo(server.port()));
      CHECK((got.outcome == c.want));
      CHECK(got.reply.code == c.want_code);
      CHECK(server.messages().empty());
      // Without PIPELINING nothing follows a refusal in the same transaction.
      if (std::string(c.at) == "MAIL") CHECK(count(server.transcript(), "RCPT") == 0);
    }
  }
}

TEST_CASE("relay: a partly refused envelope: sent to the accepted recipients, each one reported") {
  ScriptedSmtpServer server(failAt("RCPT TO:<b@", "550 5.1.1 <b@example.test>: unknown\r\n"));
  auto got = sendOne(plaintextTo(server.port()));
  CHECK((got.outcome == SendOutcome::Accepted));
  REQUIRE(got.recipients.size() == 2);
  CHECK(got.recipients[0].address == "a@example.test");
  CHECK(got.recipients[0].reply.code == 250);
  CHECK(got.recipients[1].address == "b@example.test");
  CHECK(got.recipients[1].reply.code == 550);
  CHECK(got.recipients[1].reply.text == "5.1.1 <b@example.test>: unknown");
  CHECK(server.messages().size() == 1);
}

TEST_CASE("relay: a refused final DATA reply is a rejection with the server's text") {
  ScriptedSmtpServer::Script script;
  script.data_reply = "554 5.6.0 Message content rejected\r\n";
  ScriptedSmtpServer server(script);
  auto got = sendOne(plaintextTo(server.port()));
  CHECK((got.outcome == SendOutcome::Rejected));
  CHECK(got.reply.code == 554);
  CHECK(got.reply.text == "5.6.0 Message content rejected");
}

TEST_CASE("relay: a greeting of 421 is temporary") {
  ScriptedSmtpServer::Script script;
  script.greeting = "421 4.3.2 Too busy\r\n";
  ScriptedSmtpServer server(script);
  auto got = sendOne(plaintextTo(server.port()));
  CHECK((got.outcome == SendOutcome::TemporaryFailure));
  CHECK(got.reply.code == 421);
}

TEST_CASE("relay: connection refused is temporary, and the next attempt waits (backoff)") {
  unsigned short port = 0;
  {
    ScriptedSmtpServer server({});
    port = server.port();
  }  // closed again: nothing listens there now
  Harness h(port);
  h.send();
  h.waitFor(1);
  CHECK((h.results[0].outcome == SendOutcome::TemporaryFailure));
  CHECK_FALSE(h.results[0].detail.empty());
  const auto first_failed = std::chrono::steady_clock::now();
  h.send();
  h.waitFor(2);
  CHECK((h.results[1].outcome == SendOutcome::TemporaryFailure));
  // The second connection attempt waited for the backoff (100 ms after one failure).
  CHECK(std::chrono::steady_clock::now() - first_failed >= std::chrono::milliseconds(90));
}

TEST_CASE("relay: STARTTLS required: a server that does not offer it gets nothing, no AUTH") {
  ScriptedSmtpServer server({});  // EHLO has no STARTTLS
  SmtpSettings settings = plaintextTo(server.port());
  settings.tls = SmtpTls::StartTls;
  settings.allow_insecure = false;
  settings.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  auto got = sendOne(settings);
  CHECK((got.outcome == SendOutcome::TlsFailure));
  for (const auto& line : server.transcript()) CHECK(line.rfind("AUTH", 0) != 0);
  CHECK(server.messages().empty());
}

TEST_CASE("relay: an unreadable ca_file fails every send as a TLS failure") {
  ScriptedSmtpServer server({});
  SmtpSettings settings = plaintextTo(server.port());
  settings.tls = SmtpTls::Implicit;
  settings.ca_file = "/nonexistent/ca.pem";
  auto got = sendOne(settings);
  CHECK((got.outcome == SendOutcome::TlsFailure));
  CHECK(server.connections() == 0);
}

TEST_CASE("relay: messages with the same credential share one logged-in connection") {
  ScriptedSmtpServer server({});
  Harness h(server.port());
  for (int i = 0; i < 3; ++i) {
    h.send("lease/1");
    h.waitFor(static_cast<std::size_t>(i) + 1);
  }
  for (const auto& r : h.results) CHECK((r.outcome == SendOutcome::Accepted));
  CHECK_FALSE(h.results[0].reused_connection);
  CHECK(h.results[2].reused_connection);
  CHECK(server.connections() == 1);
  CHECK(server.messages().size() == 3);
  CHECK(count(server.transcript(), "AUTH") == 1);
}

TEST_CASE("relay: another credential never uses that connection") {
  ScriptedSmtpServer server({});
  Harness h(server.port());
  h.send("lease/1");
  h.waitFor(1);
  h.send("lease/2");
  h.waitFor(2);
  CHECK(server.connections() == 2);
  CHECK(h.sender->pools() == 2);
}

TEST_CASE("relay: retiring a credential closes its connections") {
  ScriptedSmtpServer server({});
  Harness h(server.port());
  h.send("lease/1");
  h.waitFor(1);
  CHECK(count(server.transcript(), "QUIT") == 0);
  h.sender->retire("lease/1");
  CHECK(h.sender->pools() == 0);
  CHECK(h.runUntil([&] { return count(server.transcript(), "QUIT") == 1; }));
  h.send("lease/1");  // a late send with it gets a new connection
  h.waitFor(2);
  CHECK(server.connections() == 2);
}

TEST_CASE("relay: at most max_connections; the rest wait in order") {
  ScriptedSmtpServer server({});
  Harness h(server.port(), 1);
  for (int i = 0; i < 4; ++i) h.send("lease/1");
  CHECK(h.sender->active() == 1);
  CHECK(h.sender->waiting() == 3);
  h.waitFor(4);
  CHECK(h.sender->active() == 0);
  CHECK(server.connections() == 1);
  CHECK(server.messages().size() == 4);
}

TEST_CASE("relay: a refusal on a reused connection is tried once more on a new one") {
  int mail_commands = 0;
  ScriptedSmtpServer::Script script;
  script.reply = [&](const std::string& command) {
    // The second MAIL (the first on the reused connection) is refused, as Postfix
    // refuses a sender whose login was deleted after the session logged in.
    if (command.rfind("MAIL FROM", 0) == 0 && ++mail_commands == 2) {
      return std::string("553 5.7.1 Sender address rejected: not owned by user\r\n");
    }
    return ScriptedSmtpServer::defaultReply(command);
  };
  ScriptedSmtpServer server(script);
  Harness h(server.port());
  h.send("lease/1");
  h.waitFor(1);
  h.send("lease/1");
  h.waitFor(2);
  CHECK((h.results[1].outcome == SendOutcome::Accepted));
  CHECK_FALSE(h.results[1].reused_connection);
  CHECK(server.connections() == 2);
  CHECK(count(server.transcript(), "AUTH") == 2);
}

TEST_CASE("relay: a 535 on a new connection ends the messages waiting for that login at once") {
  ScriptedSmtpServer server(failAt("AUTH", "535 5.7.8 Error: authentication failed\r\n"));
  Harness h(server.port(), 1);
  for (int i = 0; i < 4; ++i) h.send("lease/revoked");
  h.waitFor(4);
  for (const auto& r : h.results) {
    CHECK((r.outcome == SendOutcome::AuthRefused));
    CHECK(r.reply.code == 535);
  }
  // One AUTH told the truth for all four: no connection (and backoff) per message.
  CHECK(count(server.transcript(), "AUTH") == 1);
  CHECK(server.messages().empty());
}

TEST_CASE("relay: a refusal on a new connection is final") {
  ScriptedSmtpServer server({.reply = [](const std::string& command) {
    if (command.rfind("MAIL FROM", 0) == 0) return std::string("554 5.7.1 no\r\n");
    return ScriptedSmtpServer::defaultReply(command);
  }});
  Harness h(server.port());
  h.send("lease/1");
  h.waitFor(1);
  CHECK((h.results[0].outcome == SendOutcome::Rejected));
  CHECK(h.results[0].reply.code == 554);
  CHECK(server.connections() == 1);
}

TEST_CASE("relay: two profiles' credentials never share a connection, even without lease ids") {
  ScriptedSmtpServer server({});
  Harness h(server.port());
  h.send("", "smtp/creds/web", "web-user");
  h.waitFor(1);
  h.send("", "smtp/creds/cron", "cron-user");
  h.waitFor(2);
  h.send("", "smtp/creds/web", "web-user");
  h.waitFor(3);
  for (const auto& r : h.results) CHECK((r.outcome == SendOutcome::Accepted));
  CHECK(server.connections() == 2);
  CHECK(h.sender->pools() == 2);
  CHECK(count(server.transcript(), "AUTH") == 2);
  CHECK(h.results[2].reused_connection);
  h.sender->retire("lease/none");
  CHECK(h.sender->pools() == 2);
  h.sender->retire("");
  CHECK(h.sender->pools() == 0);
}

TEST_CASE("relay: a server that stops answering is timed out") {
  ScriptedSmtpServer server({.reply = [](const std::string& command) {
    if (command.rfind("MAIL FROM", 0) == 0) return std::string();  // silence
    return ScriptedSmtpServer::defaultReply(command);
  }});
  SmtpSettings settings = plaintextTo(server.port());
  settings.timeout = std::chrono::seconds(1);
  Harness h(settings);
  const auto started = std::chrono::steady_clock::now();
  h.send("lease/1");
  h.waitFor(1);
  CHECK((h.results[0].outcome == SendOutcome::TemporaryFailure));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
}

TEST_CASE("relay: sends of one lease share the caller's credential") {
  ScriptedSmtpServer server({});
  Harness h(server.port());
  auto credential = std::make_shared<const SmtpCredential>(fakes::testCredential("lease/1"));
  for (int i = 0; i < 3; ++i) h.sendWith(credential);
  credential.reset();  // the caller lets go at once; queued sends still hold it
  h.waitFor(3);
  for (const auto& r : h.results) CHECK((r.outcome == SendOutcome::Accepted));
  CHECK(server.connections() <= 3);
  CHECK(count(server.transcript(), "AUTH") == server.connections());
}

TEST_CASE("relay: a connection carries at most max_messages_per_connection messages") {
  ScriptedSmtpServer server({});
  SmtpSettings settings = plaintextTo(server.port());
  settings.max_messages_per_connection = 2;
  Harness h(settings);
  for (int i = 0; i < 3; ++i) {
    h.send("lease/1");
    h.waitFor(static_cast<std::size_t>(i) + 1);
  }
  CHECK(server.connections() == 2);
  CHECK(h.runUntil([&] { return count(server.transcript(), "QUIT") == 1; }));
}

TEST_CASE("relay: an idle connection is closed after idle_timeout") {
  ScriptedSmtpServer server({});
  SmtpSettings settings = plaintextTo(server.port());
  settings.idle_timeout = std::chrono::seconds(1);
  Harness h(settings);
  h.send("lease/1");
  h.waitFor(1);
  CHECK(h.runUntil([&] { return count(server.transcript(), "QUIT") == 1; }));
  h.send("lease/1");
  h.waitFor(2);
  CHECK((h.results[1].outcome == SendOutcome::Accepted));
  CHECK(server.connections() == 2);
}

TEST_CASE("relay: a connection the server closed while idle is replaced, nothing lost") {
  ScriptedSmtpServer server({.reply = [](const std::string& command) {
    // Postfix's idle timeout: a 421 and the connection closed, seen at the next command.
    static int mails = 0;
    if (command.rfind("MAIL FROM", 0) == 0 && ++mails == 2) {
      return std::string("421 4.4.2 peer.test Error: timeout exceeded\r\n");
    }
    return ScriptedSmtpServer::defaultReply(command);
  }});
  Harness h(server.port());
  h.send("lease/1");
  h.waitFor(1);
  h.send("lease/1");
  h.waitFor(2);
  CHECK((h.results[1].outcome == SendOutcome::Accepted));
  CHECK(server.messages().size() == 2);
  CHECK(server.connections() == 2);
}
