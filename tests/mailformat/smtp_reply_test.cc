// smtp_reply_test.cc: parsing SMTP server replies.
#include "mailformat/smtp_reply.h"

#include <doctest/doctest.h>

using namespace mailformat;

TEST_CASE("parseReplyLine") {
  struct Case {
    const char* line;
    int want_code;  // 0: not a reply line
    bool want_last;
    const char* want_text;
  };
  const Case cases[] = {
      {"250 2.0.0 Ok: queued as ABC", 250, true, "2.0.0 Ok: queued as ABC"},
      {"250-PIPELINING", 250, false, "PIPELINING"},
      {"535 5.7.8 Error: authentication failed", 535, true, "5.7.8 Error: authentication failed"},
      {"220", 220, true, ""},
      {"", 0, false, ""},
      {"25", 0, false, ""},
      {"abc text", 0, false, ""},
      {"250x", 0, false, ""},
      {"199 too low", 0, false, ""},
      {"600 too high", 0, false, ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    auto got = parseReplyLine(c.line);
    if (c.want_code == 0) {
      CHECK_FALSE(got.has_value());
      continue;
    }
    REQUIRE(got.has_value());
    CHECK(got->code == c.want_code);
    CHECK(got->last == c.want_last);
    CHECK(got->text == c.want_text);
  }
  CHECK_FALSE(parseReplyLine("250 " + std::string(kMaxReplyLine, 'a')).has_value());
}

TEST_CASE("ReplyCollector joins multi-line replies fed in arbitrary chunks") {
  ReplyCollector c;
  c.feed("250-mail.example ESMTP\r\n250-AUTH PL");
  c.feed("AIN LOGIN\r\n");
  CHECK(c.last().code == 0);  // not complete yet
  c.feed("250 SMTPUTF8\r\n");
  CHECK(c.last().code == 250);
  CHECK(c.last().text == "mail.example ESMTP\nAUTH PLAIN LOGIN\nSMTPUTF8");
  c.feed("553 5.7.1 <x@y>: Sender address rejected: not owned by user u\r\n");
  CHECK(c.last().code == 553);
  CHECK(c.last().isPermanent());
}

TEST_CASE("ReplyCollector refuses inconsistent or oversized replies") {
  ReplyCollector c;
  c.feed("250-a\r\n354 b\r\n");
  CHECK(c.last().code == 0);
  c.feed(std::string(5000, 'x') + "\r\n");
  CHECK(c.last().code == 0);
  c.feed("421 4.3.2 shutting down\r\n");
  CHECK(c.last().isTransient());
  c.feed("221 2.0.0 Bye\r\n");
  CHECK(c.last().code == 221);
  CHECK(c.lastFailure().code == 421);
}
