// curl_smtp_sender_test.cc: the libcurl SMTP client against a scripted SMTP peer:
// reply classes, the message on the wire, and refusal to send without STARTTLS.
#include <doctest/doctest.h>

#include "fakes/scripted_smtp_server.h"
#include "fakes/smtp_test_settings.h"
#include "foundation/curl_global.h"
#include "sidecar/relay/smtp_sender.h"

using namespace sidecar;
using namespace sidecar::relay;
using fakes::plaintextTo;
using fakes::ScriptedSmtpServer;

namespace {

const mailformat::Envelope kEnvelope{"app@example.test", {"a@example.test", "b@example.test"}};
const std::string kMessage = "Subject: t\r\n\r\nline\r\n.dot line\r\n";

// A script that answers `command_prefix` with `reply` and everything else by default.
ScriptedSmtpServer::Script failAt(std::string command_prefix, std::string reply) {
  ScriptedSmtpServer::Script script;
  script.reply = [=](const std::string& command) {
    if (command.rfind(command_prefix, 0) == 0) return reply;
    return ScriptedSmtpServer::defaultReply(command);
  };
  return script;
}

}  // namespace

TEST_CASE("an accepted message arrives intact, dot-stuffing undone by the peer") {
  ScriptedSmtpServer server({});
  auto sender = makeCurlSmtpSender(plaintextTo(server.port()));
  auto got = sender->send(kEnvelope, kMessage, fakes::testCredential());
  CHECK((got.outcome == SendOutcome::Accepted));
  CHECK(got.reply.code == 250);
  CHECK(got.reply.text == "2.0.0 Ok: queued as FAKE");
  REQUIRE(server.messages().size() == 1);
  CHECK(server.messages()[0] == kMessage);
  const auto transcript = server.transcript();
  CHECK(std::find(transcript.begin(), transcript.end(), "MAIL FROM:<app@example.test>") !=
        transcript.end());
  CHECK(std::find(transcript.begin(), transcript.end(), "RCPT TO:<b@example.test>") !=
        transcript.end());
}

TEST_CASE("reply classes") {
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
      auto got = makeCurlSmtpSender(plaintextTo(server.port()))
                     ->send(kEnvelope, kMessage, fakes::testCredential());
      CHECK((got.outcome == c.want));
      CHECK(got.reply.code == c.want_code);
      CHECK(server.messages().empty());
    }
  }
}

TEST_CASE("a partly refused envelope: sent to the accepted recipients, each one reported") {
  ScriptedSmtpServer server(failAt("RCPT TO:<b@", "550 5.1.1 <b@example.test>: unknown\r\n"));
  auto got = makeCurlSmtpSender(plaintextTo(server.port()))
                 ->send(kEnvelope, kMessage, fakes::testCredential());
  CHECK((got.outcome == SendOutcome::Accepted));
  REQUIRE(got.recipients.size() == 2);
  CHECK(got.recipients[0].address == "a@example.test");
  CHECK(got.recipients[0].reply.code == 250);
  CHECK(got.recipients[1].address == "b@example.test");
  CHECK(got.recipients[1].reply.code == 550);
  CHECK(got.recipients[1].reply.text == "5.1.1 <b@example.test>: unknown");
  CHECK(server.messages().size() == 1);
}

TEST_CASE("a refused final DATA reply is a rejection with the server's text") {
  ScriptedSmtpServer::Script script;
  script.data_reply = "554 5.6.0 Message content rejected\r\n";
  ScriptedSmtpServer server(script);
  auto got = makeCurlSmtpSender(plaintextTo(server.port()))
                 ->send(kEnvelope, kMessage, fakes::testCredential());
  CHECK((got.outcome == SendOutcome::Rejected));
  CHECK(got.reply.code == 554);
  CHECK(got.reply.text == "5.6.0 Message content rejected");
}

TEST_CASE("a greeting of 421 is temporary") {
  ScriptedSmtpServer::Script script;
  script.greeting = "421 4.3.2 Too busy\r\n";
  ScriptedSmtpServer server(script);
  auto got = makeCurlSmtpSender(plaintextTo(server.port()))
                 ->send(kEnvelope, kMessage, fakes::testCredential());
  CHECK((got.outcome == SendOutcome::TemporaryFailure));
}

TEST_CASE("connection refused is temporary") {
  unsigned short port = 0;
  {
    ScriptedSmtpServer server({});
    port = server.port();
  }  // closed again: nothing listens there now
  auto got =
      makeCurlSmtpSender(plaintextTo(port))->send(kEnvelope, kMessage, fakes::testCredential());
  CHECK((got.outcome == SendOutcome::TemporaryFailure));
  CHECK_FALSE(got.detail.empty());
}

TEST_CASE("STARTTLS required: a server that does not offer it gets nothing, no AUTH") {
  ScriptedSmtpServer server({});  // EHLO has no STARTTLS
  SmtpSettings settings = plaintextTo(server.port());
  settings.tls = SmtpTls::StartTls;
  settings.allow_insecure = false;
  settings.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  auto got = makeCurlSmtpSender(settings)->send(kEnvelope, kMessage, fakes::testCredential());
  CHECK((got.outcome == SendOutcome::TlsFailure));
  for (const auto& line : server.transcript()) CHECK(line.rfind("AUTH", 0) != 0);
  CHECK(server.messages().empty());
}
