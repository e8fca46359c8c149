// message_test.cc: stdin collection (dot handling, size limit), address lists and
// message assembly (table-driven).
#include "sendmail/message.h"

#include <doctest/doctest.h>

using namespace sendmail;

namespace {

// Feeds `input` in chunks of `chunk` bytes; returns the final state and the data.
std::pair<InputCollector::State, std::string> collect(std::string_view input, bool dot_ends,
                                                      std::size_t max, std::size_t chunk) {
  InputCollector c(dot_ends, max);
  auto state = InputCollector::State::More;
  for (std::size_t i = 0; i < input.size() && state == InputCollector::State::More; i += chunk) {
    state = c.feed(input.substr(i, chunk));
  }
  if (state == InputCollector::State::More) state = c.finish();
  return {state, c.take()};
}

AssemblyParams params(std::vector<std::string> recipients, bool t = false) {
  AssemblyParams p;
  p.extract_recipients = t;
  p.argument_recipients = std::move(recipients);
  p.from_address = "app@x.test";
  p.date = "Fri, 27 Nov 2026 11:00:00 +0000";
  p.message_id = "<id@x.test>";
  return p;
}

}  // namespace

TEST_CASE("InputCollector: a lone dot ends input unless -i") {
  using S = InputCollector::State;
  struct Case {
    const char* input;
    bool dot_ends;
    S want_state;
    const char* want;
  };
  const Case cases[] = {
      {"a\nb\n", true, S::Done, "a\nb\n"},
      {"a\n.\nafter\n", true, S::Done, "a\n"},
      {"a\r\n.\r\nafter\r\n", true, S::Done, "a\r\n"},
      {".\n", true, S::Done, ""},
      {"a\n.", true, S::Done, "a\n"},               // last line without newline
      {"a\n..\nb\n", true, S::Done, "a\n..\nb\n"},  // not un-stuffed (as Postfix)
      {"a\n.x\n. \n", true, S::Done, "a\n.x\n. \n"},
      {"a.\n", true, S::Done, "a.\n"},
      {"a\n.\nafter\n", false, S::Done, "a\n.\nafter\n"},
      {"a\n.", false, S::Done, "a\n."},
      {"", true, S::Done, ""},
  };
  for (const auto& c : cases) {
    const std::string captured_input = c.input;
    CAPTURE(captured_input);
    CAPTURE(c.dot_ends);
    for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{1000}}) {
      CAPTURE(chunk);
      auto [state, data] = collect(c.input, c.dot_ends, 1000, chunk);
      CHECK(state == c.want_state);
      CHECK(data == c.want);
    }
  }
}

TEST_CASE("InputCollector: size limit") {
  using S = InputCollector::State;
  CHECK(collect("12345", false, 5, 2).first == S::Done);
  CHECK(collect("123456", false, 5, 2).first == S::TooLarge);
  CHECK(collect("123456", false, 5, 100).first == S::TooLarge);
  // The dot line ends input before the limit is reached.
  CHECK(collect("ab\n.\nmore than the limit", true, 5, 100).first == S::Done);
  CHECK(collect("abcdef\n.\n", true, 5, 100).first == S::TooLarge);
  InputCollector c(true, 5);
  CHECK(c.feed("123456") == S::TooLarge);
  CHECK(c.feed("x") == S::TooLarge);
  CHECK(c.finish() == S::TooLarge);
}

TEST_CASE("assembleMessage: headers, line endings, added fields") {
  struct Case {
    const char* name;
    const char* input;
    const char* want;
  };
  const Case cases[] = {
      {"adds From, Date, Message-ID after the existing fields; LF -> CRLF",
       "Subject: hi\nX-A: 1\n\nbody\n",
       "Subject: hi\r\nX-A: 1\r\nFrom: <app@x.test>\r\nDate: Fri, 27 Nov 2026 11:00:00 +0000\r\n"
       "Message-ID: <id@x.test>\r\n\r\nbody\r\n"},
      {"keeps existing From, Date, Message-ID (any case)",
       "from: me@x.test\nDATE: yesterday\nmessage-id: <m@x.test>\n\nb\n",
       "from: me@x.test\r\nDATE: yesterday\r\nmessage-id: <m@x.test>\r\n\r\nb\r\n"},
      {"a body without header gets the header and the empty line", "just text\n",
       "From: <app@x.test>\r\nDate: Fri, 27 Nov 2026 11:00:00 +0000\r\n"
       "Message-ID: <id@x.test>\r\n\r\njust text\r\n"},
      {"an mbox From_ line is dropped",
       "From someone Fri Nov 27 11:00:00 2026\nFrom: me@x.test\nDate: d\nMessage-ID: <m>\n\nb",
       "From: me@x.test\r\nDate: d\r\nMessage-ID: <m>\r\n\r\nb\r\n"},
      {"folded fields stay folded; CRLF input stays CRLF",
       "Subject: a\r\n  long subject\r\nFrom: f@x.test\r\nDate: d\r\nMessage-ID: <m>\r\n\r\nb\r\n",
       "Subject: a\r\n  long subject\r\nFrom: f@x.test\r\nDate: d\r\nMessage-ID: <m>\r\n\r\n"
       "b\r\n"},
      {"Bcc is removed, with its continuation lines",
       "From: f@x.test\nBcc: hidden@x.test,\n other@x.test\nDate: d\nMessage-ID: <m>\n\nb\n",
       "From: f@x.test\r\nDate: d\r\nMessage-ID: <m>\r\n\r\nb\r\n"},
      {"a header-only message gets the empty line", "From: f@x.test\nDate: d\nMessage-ID: <m>\n",
       "From: f@x.test\r\nDate: d\r\nMessage-ID: <m>\r\n\r\n"},
      {"a non-field line ends the header and starts the body",
       "From: f@x.test\nDate: d\nMessage-ID: <m>\nnot a field\nmore\n",
       "From: f@x.test\r\nDate: d\r\nMessage-ID: <m>\r\n\r\nnot a field\r\nmore\r\n"},
      {"dot lines in the body are kept", "From: f@x.test\nDate: d\nMessage-ID: <m>\n\n..\n.x\n",
       "From: f@x.test\r\nDate: d\r\nMessage-ID: <m>\r\n\r\n..\r\n.x\r\n"},
  };
  for (const auto& c : cases) {
    const std::string captured_name = c.name;
    CAPTURE(captured_name);
    auto got = assembleMessage(c.input, params({"a@x.test"}));
    REQUIRE(std::holds_alternative<Assembled>(got));
    CHECK(std::get<Assembled>(got).message == c.want);
    CHECK(std::get<Assembled>(got).recipients == std::vector<std::string>{"a@x.test"});
  }
}

TEST_CASE("assembleMessage: From with -F, and the full name cannot inject a line") {
  auto p = params({"a@x.test"});
  p.full_name = "App \"Mailer\"";
  auto got = assembleMessage("Subject: x\n\nb\n", p);
  REQUIRE(std::holds_alternative<Assembled>(got));
  CHECK(std::get<Assembled>(got).message.find("From: \"App \\\"Mailer\\\"\" <app@x.test>\r\n") !=
        std::string::npos);
  p.full_name = "Jörg";
  got = assembleMessage("Subject: x\n\nb\n", p);
  REQUIRE(std::holds_alternative<Assembled>(got));
  CHECK(std::get<Assembled>(got).message.find("From: =?utf-8?B?") != std::string::npos);
  // -F is ignored when the message has a From.
  got = assembleMessage("From: me@x.test\n\nb\n", p);
  REQUIRE(std::holds_alternative<Assembled>(got));
  CHECK(std::get<Assembled>(got).message.find("Jörg") == std::string::npos);
  CHECK(std::get<Assembled>(got).message.find("=?utf-8?") == std::string::npos);
}

TEST_CASE("assembleMessage: recipients from arguments and, with -t, from To/Cc/Bcc") {
  struct Case {
    const char* name;
    std::vector<std::string> args;
    bool t;
    const char* input;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {"arguments only; headers ignored without -t",
       {"a@x.test", "B <b@x.test>"},
       false,
       "To: c@x.test\n\nb\n",
       {"a@x.test", "b@x.test"}},
      {"argument lists", {"a@x.test, b@x.test"}, false, "\n", {"a@x.test", "b@x.test"}},
      {"-t: To, Cc, Bcc in order, folded, deduplicated",
       {},
       true,
       "To: A <a@x.test>,\n\tb@x.test\ncc: c@x.test, a@x.test\nBCC: d@x.test\nSubject: s\n\nb\n",
       {"a@x.test", "b@x.test", "c@x.test", "d@x.test"}},
      {"-t plus arguments: both",
       {"z@x.test"},
       true,
       "To: a@x.test\n\nb\n",
       {"z@x.test", "a@x.test"}},
      {"-t: To in the body is not a header",
       {},
       true,
       "To: a@x.test\n\nTo: evil@x.test\n",
       {"a@x.test"}},
      {"-t: groups", {}, true, "To: undisclosed-recipients:;\nBcc: a@x.test\n\nb\n", {"a@x.test"}},
  };
  for (const auto& c : cases) {
    const std::string captured_name = c.name;
    CAPTURE(captured_name);
    auto got = assembleMessage(c.input, params(c.args, c.t));
    REQUIRE(std::holds_alternative<Assembled>(got));
    CHECK(std::get<Assembled>(got).recipients == c.want);
    CHECK(std::get<Assembled>(got).message.find("Bcc") == std::string::npos);
    CHECK(std::get<Assembled>(got).message.find("BCC") == std::string::npos);
  }
}

TEST_CASE("assembleMessage: recipient errors") {
  struct Case {
    const char* name;
    std::vector<std::string> args;
    bool t;
    const char* input;
    int want_code;
    const char* want_part;
  };
  const Case cases[] = {
      {"no recipients", {}, false, "Subject: x\n\nb\n", 64, "no recipients given"},
      {"-t finds none", {}, true, "Subject: x\n\nTo: a@x.test\n", 64, "no recipient addresses"},
      {"not an address nor a local name",
       {"ro ot"},
       false,
       "\n",
       64,
       "invalid recipient \"ro ot\""},
      {"bad header address", {}, true, "To: a@x.test, \"x y\"@x.test\n\nb\n", 65, "To field"},
      {"control characters are not echoed", {"a\x1b@x.test"}, false, "\n", 64, "a?@x.test"},
  };
  for (const auto& c : cases) {
    const std::string captured_name = c.name;
    CAPTURE(captured_name);
    auto got = assembleMessage(c.input, params(c.args, c.t));
    REQUIRE(std::holds_alternative<Failure>(got));
    CHECK(std::get<Failure>(got).exit_code == c.want_code);
    CHECK(std::get<Failure>(got).message.find(c.want_part) != std::string::npos);
  }
  std::string many = "To: ";
  for (int i = 0; i < 101; ++i) many += (i ? ", r" : "r") + std::to_string(i) + "@x.test";
  auto got = assembleMessage(many + "\n\nb\n", params({}, true));
  REQUIRE(std::holds_alternative<Failure>(got));
  CHECK(std::get<Failure>(got).message.find("more than 100 recipients") != std::string::npos);
}

TEST_CASE("assembleMessage: a local name (cron's root) is kept for the sidecar's aliases") {
  auto got = assembleMessage("Subject: x\n\nb\n", params({"root"}, false));
  REQUIRE(std::holds_alternative<Assembled>(got));
  CHECK(std::get<Assembled>(got).recipients == std::vector<std::string>{"root"});
}

TEST_CASE("assembleMessage: no From is added without a sender (the sidecar adds its own)") {
  auto p = params({"a@x.test"}, false);
  p.from_address.clear();
  auto got = assembleMessage("Subject: x\n\nb\n", p);
  REQUIRE(std::holds_alternative<Assembled>(got));
  CHECK(std::get<Assembled>(got).message.find("From:") == std::string::npos);
}

TEST_CASE("printable") {
  CHECK(printable("ok") == "ok");
  CHECK(printable("a\r\nb\x7f") == "a??b?");
  CHECK(printable("abcdef", 3) == "abc...");
}
