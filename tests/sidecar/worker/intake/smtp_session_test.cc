// smtp_session_test.cc: the SMTP submission state machine, fed byte strings.
//
// SECURITY: covers the input rules that keep a client from smuggling a command or a
// second message (bare CR/LF, dot-stuffing, the end of DATA) and every limit.
// ERRORS: doctest assertions; the policy here is a table (the real one, over profiles,
// is tested in submission_policy_test.cc).
#include "sidecar/intake/smtp_session.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

namespace {

using sidecar::intake::Delivery;
using sidecar::intake::MailCommand;
using sidecar::intake::SmtpLimits;
using sidecar::intake::SmtpPolicy;
using sidecar::intake::SmtpReply;
using sidecar::intake::SmtpSession;
using Next = SmtpSession::Next;

// Refuses senders at "refused.example", maps the local names in `aliases`.
class TablePolicy final : public SmtpPolicy {
 public:
  std::map<std::string, std::string> aliases{{"root", "ops@example.org"}};
  std::optional<SmtpReply> mail(const MailCommand& m) override {
    if (m.from.size() > 16 && m.from.substr(m.from.size() - 16) == "@refused.example") {
      return SmtpReply{550, "5.7.1", "sender not allowed", false};
    }
    return std::nullopt;
  }
  std::variant<std::string, SmtpReply> rcpt(std::string_view to, std::size_t) override {
    if (to.find('@') != std::string_view::npos) return std::string(to);
    auto it = aliases.find(std::string(to));
    if (it == aliases.end()) return SmtpReply{550, "5.1.1", "no such local recipient", false};
    return it->second;
  }
};

// The final reply codes in `out` ("250-..." continuation lines are skipped).
std::vector<int> codes(const std::string& out) {
  std::vector<int> result;
  std::size_t pos = 0;
  while (pos < out.size()) {
    const auto eol = out.find("\r\n", pos);
    REQUIRE(eol != std::string::npos);
    const auto line = out.substr(pos, eol - pos);
    REQUIRE(line.size() >= 3);
    if (line.size() == 3 || line[3] == ' ') result.push_back(std::stoi(line.substr(0, 3)));
    pos = eol + 2;
  }
  return result;
}

struct Run {
  std::vector<int> codes;
  std::string out;
  Next next;
  std::vector<Delivery> deliveries;
};

// Feeds `input` in chunks of `chunk` bytes, answering each delivery with 250.
Run run(const std::string& input, std::size_t chunk = 0, SmtpLimits limits = {}) {
  TablePolicy policy;
  SmtpSession session("sidecar.test", limits, policy);
  Run r;
  session.greet(r.out);
  if (chunk == 0) chunk = input.size() + 1;
  Next next = Next::Read;
  for (std::size_t i = 0; i < input.size() && next != Next::Close; i += chunk) {
    next = session.feed(std::string_view(input).substr(i, chunk), r.out);
    while (next == Next::Deliver) {
      r.deliveries.push_back(session.takeDelivery());
      next = session.delivered(SmtpReply{250, "2.0.0", "sent", false}, r.out);
    }
  }
  r.codes = codes(r.out);
  r.next = next;
  return r;
}

const std::string kEhlo = "EHLO client.test\r\n";
const std::string kMessage = "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n";

}  // namespace

TEST_CASE("conversations: input -> reply codes") {
  struct Case {
    const char* name;
    std::string input;
    std::vector<int> expected;
    Next next;
  };
  const std::vector<Case> cases = {
      {"greeting and EHLO", kEhlo, {220, 250}, Next::Read},
      {"HELO", "HELO client.test\r\n", {220, 250}, Next::Read},
      {"EHLO without a domain", "EHLO\r\n", {220, 501}, Next::Read},
      {"MAIL before EHLO", "MAIL FROM:<a@example.org>\r\n", {220, 503}, Next::Read},
      {"a pipelined message",
       kEhlo + "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" + kMessage +
           ".\r\nQUIT\r\n",
       {220, 250, 250, 250, 354, 250, 221},
       Next::Close},
      {"space after the colon",
       kEhlo + "MAIL FROM: <a@example.org>\r\n",
       {220, 250, 250},
       Next::Read},
      {"null sender", kEhlo + "MAIL FROM:<>\r\n", {220, 250, 250}, Next::Read},
      {"source route ignored",
       kEhlo + "MAIL FROM:<@relay.test:a@example.org>\r\n",
       {220, 250, 250},
       Next::Read},
      {"no angle brackets", kEhlo + "MAIL FROM:a@example.org\r\n", {220, 250, 501}, Next::Read},
      {"bad sender", kEhlo + "MAIL FROM:<a b@example.org>\r\n", {220, 250, 553}, Next::Read},
      {"sender refused by the policy",
       kEhlo + "MAIL FROM:<x@refused.example>\r\n",
       {220, 250, 550},
       Next::Read},
      {"nested MAIL",
       kEhlo + "MAIL FROM:<a@example.org>\r\nMAIL FROM:<a@example.org>\r\n",
       {220, 250, 250, 503},
       Next::Read},
      {"SIZE over the limit",
       kEhlo + "MAIL FROM:<a@example.org> SIZE=999999999999\r\n",
       {220, 250, 552},
       Next::Read},
      {"SIZE not a number",
       kEhlo + "MAIL FROM:<a@example.org> SIZE=12x\r\n",
       {220, 250, 501},
       Next::Read},
      {"BODY=8BITMIME and SMTPUTF8",
       kEhlo + "MAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8 SIZE=10\r\n",
       {220, 250, 250},
       Next::Read},
      {"unknown MAIL parameter",
       kEhlo + "MAIL FROM:<a@example.org> RET=FULL\r\n",
       {220, 250, 555},
       Next::Read},
      {"non-ASCII sender without SMTPUTF8",
       kEhlo + "MAIL FROM:<j\xc3\xb6rg@example.org>\r\n",
       {220, 250, 553},
       Next::Read},
      {"non-ASCII sender with SMTPUTF8",
       kEhlo + "MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8\r\n",
       {220, 250, 250},
       Next::Read},
      {"RCPT before MAIL", kEhlo + "RCPT TO:<b@example.org>\r\n", {220, 250, 503}, Next::Read},
      {"RCPT with a DSN parameter",
       kEhlo + "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org> NOTIFY=NEVER\r\n",
       {220, 250, 250, 555},
       Next::Read},
      {"local recipient with an alias",
       kEhlo + "MAIL FROM:<a@example.org>\r\nRCPT TO:<root>\r\n",
       {220, 250, 250, 250},
       Next::Read},
      {"local recipient without an alias",
       kEhlo + "MAIL FROM:<a@example.org>\r\nRCPT TO:<nobody>\r\n",
       {220, 250, 250, 550},
       Next::Read},
      {"DATA without recipients",
       kEhlo + "MAIL FROM:<a@example.org>\r\nDATA\r\n",
       {220, 250, 250, 554},
       Next::Read},
      {"DATA without MAIL", kEhlo + "DATA\r\n", {220, 250, 503}, Next::Read},
      {"RSET NOOP VRFY HELP",
       kEhlo + "RSET\r\nNOOP\r\nVRFY root\r\nHELP\r\n",
       {220, 250, 250, 250, 252, 214},
       Next::Read},
      {"STARTTLS and AUTH are not offered",
       kEhlo + "STARTTLS\r\nAUTH PLAIN AGI=\r\n",
       {220, 250, 502, 502},
       Next::Read},
      {"BDAT closes", kEhlo + "BDAT 10 LAST\r\n", {220, 250, 502}, Next::Close},
      {"unknown command", kEhlo + "FOO\r\n", {220, 250, 500}, Next::Read},
      {"lower case verbs",
       "ehlo client.test\r\nmail from:<a@example.org>\r\n",
       {220, 250, 250},
       Next::Read},
      {"bare LF ends the session", "EHLO client.test\n", {220, 521}, Next::Close},
      {"bare CR ends the session",
       "EHLO client.test\rMAIL FROM:<a@example.org>\r\n",
       {220, 521},
       Next::Close},
      {"bare LF in DATA ends the session (no smuggled second message)",
       kEhlo + "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: x\r\n\r\n"
               "body\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n"
               "x\r\n.\r\n",
       {220, 250, 250, 250, 354, 521},
       Next::Close},
      {"bare CR before the dot in DATA",
       kEhlo + "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: x\r\n\r\n"
               "body\r.\r\n",
       {220, 250, 250, 250, 354, 521},
       Next::Close},
      {"QUIT", "QUIT\r\n", {220, 221}, Next::Close},
      {"command line too long", std::string(1200, 'A') + "\r\n", {220, 500}, Next::Close},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
      CAPTURE(chunk);
      const auto r = run(c.input, chunk);
      CHECK(r.codes == c.expected);
      CHECK(r.next == c.next);
    }
  }
}

TEST_CASE("the message: dot-unstuffing, CRLF, and the envelope as resolved") {
  const auto r = run(kEhlo +
                         "MAIL FROM:<a@example.org> BODY=8BITMIME\r\nRCPT TO:<b@example.org>\r\n"
                         "RCPT TO:<root>\r\nDATA\r\nSubject: dots\r\n\r\n..leading\r\n.\r\n",
                     3);
  REQUIRE(r.deliveries.size() == 1);
  const auto& d = r.deliveries[0];
  CHECK(d.mail.from == "a@example.org");
  CHECK(d.mail.eight_bit);
  CHECK(d.recipients == std::vector<std::string>{"b@example.org", "ops@example.org"});
  CHECK(d.message == "Subject: dots\r\n\r\n.leading\r\n");
}

TEST_CASE("two messages on one connection, the second after RSET") {
  const std::string one =
      "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" + kMessage + ".\r\n";
  const auto r = run(kEhlo + one + "RSET\r\n" + one + "QUIT\r\n");
  CHECK(r.deliveries.size() == 2);
  CHECK(r.codes == std::vector<int>{220, 250, 250, 250, 354, 250, 250, 250, 250, 354, 250, 221});
}

TEST_CASE("text line limit: 998 octets pass, 999 are refused after the end of DATA") {
  const std::string head =
      kEhlo + "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nS: x\r\n\r\n";
  for (std::size_t chunk : {std::size_t{0}, std::size_t{5}, std::size_t{700}}) {
    CAPTURE(chunk);
    auto ok = run(head + std::string(998, 'x') + "\r\n.\r\nNOOP\r\n", chunk);
    CHECK(ok.codes == std::vector<int>{220, 250, 250, 250, 354, 250, 250});
    CHECK(ok.deliveries.size() == 1);
    auto long_line = run(head + std::string(999, 'x') + "\r\n.\r\nNOOP\r\n", chunk);
    CHECK(long_line.codes == std::vector<int>{220, 250, 250, 250, 354, 550, 250});
    CHECK(long_line.deliveries.empty());
    auto very_long = run(head + std::string(5000, 'x') + "\r\n.\r\nNOOP\r\n", chunk);
    CHECK(very_long.codes == std::vector<int>{220, 250, 250, 250, 354, 550, 250});
    // A bare LF inside a discarded over-long line still ends the session.
    auto hidden = run(head + std::string(3000, 'x') + "\n.\n" + "\r\n.\r\n", chunk);
    CHECK(hidden.codes.back() == 521);
    CHECK(hidden.next == Next::Close);
  }
}

TEST_CASE("size limit: counted after unstuffing, refused 552 5.3.4 at the end") {
  SmtpLimits limits;
  limits.max_message_bytes = 64;
  const std::string head =
      kEhlo + "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n";
  auto ok = run(head + "S: x\r\n\r\n" + std::string(40, 'y') + "\r\n.\r\n", 0, limits);
  CHECK(ok.deliveries.size() == 1);
  auto big = run(head + "S: x\r\n\r\n" + std::string(80, 'y') + "\r\n.\r\n", 0, limits);
  CHECK(big.deliveries.empty());
  CHECK(big.codes.back() == 552);
  CHECK(big.out.find("552 5.3.4") != std::string::npos);
  CHECK(ok.out.find("SIZE 64\r\n") != std::string::npos);
}

TEST_CASE("recipient limit: 452 4.5.3 past it, the accepted ones still get the message") {
  SmtpLimits limits;
  limits.max_recipients = 2;
  const auto r = run(kEhlo +
                         "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT "
                         "TO:<c@example.org>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n" +
                         kMessage + ".\r\n",
                     0, limits);
  CHECK(r.codes == std::vector<int>{220, 250, 250, 250, 250, 452, 354, 250});
  CHECK(r.out.find("452 4.5.3") != std::string::npos);
  REQUIRE(r.deliveries.size() == 1);
  CHECK(r.deliveries[0].recipients.size() == 2);
}

TEST_CASE("limits per connection: errors, junk commands, messages") {
  SmtpLimits limits;
  limits.max_errors = 3;
  auto errors = run(kEhlo + "X\r\nX\r\nX\r\nX\r\n", 0, limits);
  CHECK(errors.codes == std::vector<int>{220, 250, 500, 500, 500, 421});
  CHECK(errors.next == Next::Close);

  limits = {};
  limits.max_junk_commands = 3;
  auto junk = run(kEhlo + "NOOP\r\nNOOP\r\nNOOP\r\n", 0, limits);
  CHECK(junk.codes == std::vector<int>{220, 250, 250, 250, 250, 421});

  limits = {};
  limits.max_messages = 1;
  const std::string one =
      "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" + kMessage + ".\r\n";
  auto messages = run(kEhlo + one + one, 0, limits);
  CHECK(messages.deliveries.size() == 1);
  CHECK(messages.codes.back() == 421);
}

TEST_CASE("input pipelined behind a message waits for its answer, bounded") {
  TablePolicy policy;
  SmtpLimits limits;
  limits.max_buffered_bytes = 32;
  SmtpSession session("sidecar.test", limits, policy);
  std::string out;
  session.greet(out);
  const std::string one =
      "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" + kMessage + ".\r\n";
  REQUIRE(session.feed(kEhlo + one + "NOOP\r\n", out) == Next::Deliver);
  // Nothing after the message is answered before the message is.
  CHECK(codes(out) == std::vector<int>{220, 250, 250, 250, 354});
  CHECK(session.feed("QUIT\r\n", out) == Next::Deliver);
  auto d = session.takeDelivery();
  CHECK(d.message == kMessage);
  CHECK(session.delivered(SmtpReply{451, "4.4.1", "next hop\nunavailable", false}, out) ==
        Next::Close);
  CHECK(codes(out) == std::vector<int>{220, 250, 250, 250, 354, 451, 250, 221});
  CHECK(out.find("451-4.4.1 next hop\r\n451 4.4.1 unavailable\r\n") != std::string::npos);

  SmtpSession flooded("sidecar.test", limits, policy);
  std::string out2;
  REQUIRE(flooded.feed(kEhlo + one, out2) == Next::Deliver);
  (void)flooded.feed(std::string(100, 'N'), out2);
  (void)flooded.takeDelivery();
  CHECK(flooded.delivered(SmtpReply{250, "2.0.0", "sent", false}, out2) == Next::Close);
  CHECK(codes(out2).back() == 421);
}

TEST_CASE("timeout, shutdown and refusal end the session with 421 / 554") {
  TablePolicy policy;
  SmtpSession session("sidecar.test", {}, policy);
  std::string out;
  session.timedOut(out);
  CHECK(out == "421 4.4.2 sidecar.test timeout, closing the connection\r\n");
  CHECK(session.next() == Next::Close);
  SmtpSession refused("sidecar.test", {}, policy);
  std::string out2;
  refused.refuse(SmtpReply{554, "5.7.1", "no profile for uid 1000", false}, out2);
  CHECK(out2 == "554 5.7.1 no profile for uid 1000\r\n");
  CHECK(refused.feed("EHLO x\r\n", out2) == Next::Close);
  CHECK(out2 == "554 5.7.1 no profile for uid 1000\r\n");
}

TEST_CASE("renderReply: multi-line, enhanced codes, control characters neutralised") {
  using sidecar::intake::renderReply;
  CHECK(renderReply({250, "2.0.0", "Ok", false}) == "250 2.0.0 Ok\r\n");
  CHECK(renderReply({250, "", "a\nb", false}) == "250-a\r\n250 b\r\n");
  CHECK(renderReply({550, "5.7.1", "x\ry\x01z", false}) == "550 5.7.1 x?y?z\r\n");
}

TEST_CASE("withoutBcc removes Bcc fields with their continuation lines, only in the header") {
  using sidecar::intake::withoutBcc;
  CHECK(withoutBcc("From: a@b.c\r\nBcc: x@y.z,\r\n  w@y.z\r\nSubject: s\r\n\r\nBcc: body\r\n") ==
        "From: a@b.c\r\nSubject: s\r\n\r\nBcc: body\r\n");
  CHECK(withoutBcc("bcc : x@y.z\r\nTo: t@y.z\r\n\r\n") == "To: t@y.z\r\n\r\n");
  CHECK(withoutBcc("To: t@y.z\r\n\r\nbody") == "To: t@y.z\r\n\r\nbody");
}
