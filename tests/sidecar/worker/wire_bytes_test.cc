// wire_bytes_test.cc: the exact DATA bytes each submission path puts on the wire
// (issue 17, outcome 3): JSON (built by mime::build), raw message/rfc822 (through
// normalizeRawMessage), smtp-sidecar-sendmail's message (assembleMessage, then the
// sidecar's raw path) and the SMTP intake's (SmtpSession's DATA, prepareSmtpMessage). Every one:
// CRLF line ends only, dot-stuffed, lines <= 998 octets, no NUL, and no "<CR>.<CR><LF>" or
// "<LF>.<LF>" end-of-data lookalike.
//
// The SMTP peer is the scripted loopback one (tests/fakes): Postfix would hide how the
// bytes arrived (it normalises them), and these assertions are about exactly that.
#include <doctest/doctest.h>

#include <chrono>

#include "fakes/scripted_smtp_server.h"
#include "fakes/smtp_test_settings.h"
#include "mailformat/mime.h"
#include "sendmail/message.h"
#include "sidecar/intake/smtp_server.h"
#include "sidecar/intake/smtp_session.h"
#include "sidecar/intake/submit_json.h"
#include "sidecar/intake/submit_request.h"
#include "sidecar/relay/smtp_sender.h"
#include "worker/relay/relay_harness.h"

using namespace sidecar;
namespace mime = mailformat::mime;

namespace {

const mailformat::Envelope kEnvelope{"app@example.test", {"a@example.test"}};

// The raw DATA payload the peer received for `message`.
std::string onTheWire(const std::string& message) {
  fakes::ScriptedSmtpServer server({});
  relaytest::Harness relay(server.port());
  relay.sendWith(std::make_shared<const relay::SmtpCredential>(fakes::testCredential()), kEnvelope,
                 std::make_shared<const std::string>(message));
  relay.waitFor(1);
  REQUIRE((relay.results[0].outcome == relay::SendOutcome::Accepted));
  REQUIRE(server.rawMessages().size() == 1);
  return server.rawMessages()[0];
}

// The invariants of a DATA payload, whatever the path.
void checkWireForm(const std::string& wire) {
  REQUIRE(wire.size() >= 3);
  CHECK(wire.compare(wire.size() - 3, 3, ".\r\n") == 0);
  CHECK(wire.find('\0') == std::string::npos);
  std::size_t start = 0;
  while (start < wire.size()) {
    const auto lf = wire.find('\n', start);
    REQUIRE(lf != std::string::npos);  // every line ends
    REQUIRE(lf > start);               // ... in CRLF, never a bare LF
    CHECK(wire[lf - 1] == '\r');
    const std::string_view line(wire.data() + start, lf - 1 - start);
    CHECK(line.find('\r') == std::string_view::npos);  // no bare CR inside a line
    CHECK(line.size() <= 998);
    const bool last = lf + 1 == wire.size();
    if (!last && !line.empty() && line.front() == '.') CHECK(line.rfind("..", 0) == 0);
    if (last) CHECK(line == ".");
    start = lf + 1;
  }
}

mime::BuildOptions fixedOptions() {
  mime::BuildOptions o;
  o.date = std::chrono::system_clock::time_point(std::chrono::seconds(1796000000));
  o.message_id = "fixed@example.test";
  o.boundary_seed = "seed";
  return o;
}

}  // namespace

TEST_CASE("JSON path: text with LF, CRLF and dot lines, exact bytes") {
  auto parsed = submit::parseJsonSubmission(
      R"({"from":"app@example.test","to":"a@example.test","subject":"s",)"
      R"("text":".\nline\r\n..two\n.\r\nMAIL FROM:<e@x.test>\n"})");
  REQUIRE(std::holds_alternative<submit::JsonSubmission>(parsed));
  const auto wire =
      onTheWire(mime::build(std::get<submit::JsonSubmission>(parsed).message, fixedOptions()));
  checkWireForm(wire);
  const std::string body_on_wire =
      "\r\n..\r\nline\r\n...two\r\n..\r\nMAIL FROM:<e@x.test>\r\n.\r\n";
  CHECK(wire.size() > body_on_wire.size());
  CHECK(wire.compare(wire.size() - body_on_wire.size(), body_on_wire.size(), body_on_wire) == 0);
  CHECK(wire.find("Content-Transfer-Encoding: 7bit\r\n") != std::string::npos);
}

TEST_CASE("JSON path: a bare CR is refused, and the builder never emits one raw") {
  auto parsed = submit::parseJsonSubmission(
      R"({"from":"app@example.test","to":"a@example.test","text":"a\r.\r\nMAIL FROM:<e@x>"})");
  CHECK(std::holds_alternative<submit::ApiError>(parsed));
  // Defence in depth: a Message built some other way with a bare CR goes out as =0D.
  mime::Message m;
  m.from.address = "app@example.test";
  m.to.push_back({"", "a@example.test"});
  m.text = "a\r.\r\nMAIL FROM:<e@x>\r\n";
  const auto wire = onTheWire(mime::build(m, fixedOptions()));
  checkWireForm(wire);
  CHECK(wire.find("a=0D.\r\n") != std::string::npos);
  CHECK(wire.find("\r.\r") == std::string::npos);
}

TEST_CASE("JSON path: long lines and attachments stay within 998 octets") {
  mime::Message m;
  m.from.address = "app@example.test";
  m.to.push_back({"", "a@example.test"});
  m.text = std::string(5000, 'x') + "\n" + std::string(3000, '.') + "\n";
  m.html = "<p>" + std::string(4000, 'y') + "</p>";
  m.attachments.push_back({"a.bin", "application/octet-stream", std::string(10000, '\xff')});
  m.extra_headers.emplace_back("X-Long", std::string(998, 'z'));
  checkWireForm(onTheWire(mime::build(m, fixedOptions())));
}

TEST_CASE("raw path: LF and CRLF become CRLF, dot lines are stuffed, exact bytes") {
  auto normalized = submit::normalizeRawMessage("Subject: x\n\n.\r\n..\nend\n.");
  REQUIRE(std::holds_alternative<std::string>(normalized));
  const auto wire = onTheWire(std::get<std::string>(normalized));
  checkWireForm(wire);
  CHECK(wire == "Subject: x\r\n\r\n..\r\n...\r\nend\r\n..\r\n.\r\n");
  // What would smuggle a command is refused before it reaches the wire.
  CHECK(std::holds_alternative<submit::ApiError>(
      submit::normalizeRawMessage("Subject: x\n\na\r.\r\nMAIL FROM:<e@x>\n")));
  CHECK(std::holds_alternative<submit::ApiError>(
      submit::normalizeRawMessage(std::string("Subject: x\n\na\0b\n", 17))));
}

TEST_CASE("sendmail path: assembled, then the sidecar's raw path, exact bytes") {
  sendmail::AssemblyParams params;
  params.argument_recipients = {"a@example.test"};
  params.from_address = "app@example.test";
  params.date = "Fri, 27 Nov 2026 11:00:00 +0000";
  params.message_id = "<id@example.test>";
  auto assembled = sendmail::assembleMessage("Subject: s\n\n.\n..x\nlast", params);
  REQUIRE(std::holds_alternative<sendmail::Assembled>(assembled));
  auto normalized = submit::normalizeRawMessage(std::get<sendmail::Assembled>(assembled).message);
  REQUIRE(std::holds_alternative<std::string>(normalized));
  const auto wire = onTheWire(std::get<std::string>(normalized));
  checkWireForm(wire);
  CHECK(wire ==
        "Subject: s\r\nFrom: <app@example.test>\r\nDate: Fri, 27 Nov 2026 11:00:00 +0000\r\n"
        "Message-ID: <id@example.test>\r\n\r\n..\r\n...x\r\nlast\r\n.\r\n");
}

namespace {

// The profile's answers at MAIL and RCPT are not what this test is about: all accepted.
class AcceptAll final : public intake::SmtpPolicy {
 public:
  std::optional<intake::SmtpReply> mail(const intake::MailCommand&) override {
    return std::nullopt;
  }
  std::variant<std::string, intake::SmtpReply> rcpt(std::string_view to, std::size_t) override {
    return std::string(to);
  }
};

}  // namespace

TEST_CASE("SMTP intake path: DATA unstuffed, prepared, stuffed again, exact bytes") {
  AcceptAll policy;
  intake::SmtpSession session("sidecar.test", {}, policy);
  std::string out;
  session.greet(out);
  const auto next = session.feed(
      "EHLO client.test\r\nMAIL FROM:<app@example.test>\r\nRCPT TO:<a@example.test>\r\n"
      "DATA\r\nSubject: x\r\nBcc: hidden@example.test\r\n\r\n..\r\n...x\r\nend\r\n.\r\n",
      out);
  REQUIRE((next == intake::SmtpSession::Next::Deliver));
  auto delivery = session.takeDelivery();
  Profile profile;
  profile.name = "app";
  auto prepared = intake::prepareSmtpMessage(delivery.mail.from, delivery.message, profile);
  REQUIRE(std::holds_alternative<intake::SmtpPrepared>(prepared));
  const auto wire = onTheWire(std::get<intake::SmtpPrepared>(prepared).message);
  checkWireForm(wire);
  // Bcc gone, the From the message lacked added, dot lines stuffed again.
  CHECK(wire == "From: app@example.test\r\nSubject: x\r\n\r\n..\r\n...x\r\nend\r\n.\r\n");
  // What the raw path refuses, the SMTP path refuses too (a NUL in the message).
  CHECK(std::holds_alternative<intake::SmtpRefusal>(intake::prepareSmtpMessage(
      "app@example.test", std::string("Subject: x\r\n\r\na\0b\r\n", 18), profile)));
}
