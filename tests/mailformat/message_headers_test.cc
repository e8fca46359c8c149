// message_headers_test.cc: From addresses and Message-ID from a message's headers.
#include "mailformat/message_headers.h"

#include <doctest/doctest.h>

using mailformat::summarizeHeaders;

TEST_CASE("From addresses: what is read and what is refused") {
  struct Case {
    const char* name;
    std::string headers;  // header lines without the final empty line
    std::vector<std::string> want;
    bool malformed;
  };
  const Case cases[] = {
      {"bare address", "From: app@example.org\r\n", {"app@example.org"}, false},
      {"display name", "From: App Mailer <app@example.org>\r\n", {"app@example.org"}, false},
      {"quoted display name",
       "From: \"Mailer, App\" <app@example.org>\r\n",
       {"app@example.org"},
       false},
      {"address-like display name",
       "From: \"ok@example.org\" <evil@x.test>\r\n",
       {"evil@x.test"},
       false},
      {"unquoted address before the angle",
       "From: ok@example.org <evil@x.test>\r\n",
       {"evil@x.test"},
       false},
      {"legacy comment", "From: app@example.org (App)\r\n", {"app@example.org"}, false},
      {"two mailboxes",
       "From: a@example.org, B <b@example.org>\r\n",
       {"a@example.org", "b@example.org"},
       false},
      {"folded", "From: App\r\n <app@example.org>\r\n", {"app@example.org"}, false},
      {"two From fields",
       "From: a@example.org\r\nFrom: b@x.test\r\n",
       {"a@example.org", "b@x.test"},
       false},
      {"case of the name", "FROM: a@example.org\r\n", {"a@example.org"}, false},
      {"group",
       "From: Team: a@example.org, b@example.org;\r\n",
       {"a@example.org", "b@example.org"},
       false},
      {"no From", "Subject: x\r\n", {}, false},
      {"From in the body is not read", "Subject: x\r\n\r\nFrom: evil@x.test\r\n", {}, false},
      {"empty From", "From: \r\n", {}, true},
      {"empty group", "From: undisclosed:;\r\n", {}, true},
      {"unclosed angle", "From: <app@example.org\r\n", {}, true},
      {"two angles", "From: <a@example.org> <b@x.test>\r\n", {}, true},
      {"text after the angle", "From: <a@example.org> b@x.test\r\n", {}, true},
      {"source route", "From: <@relay:a@example.org>\r\n", {}, true},
      {"quoted local part", "From: \"a b\"@example.org\r\n", {}, true},
      {"unclosed comment", "From: a@example.org (x\r\n", {}, true},
      {"unclosed quote", "From: \"a <a@example.org>\r\n", {}, true},
      {"two words", "From: app example.org\r\n", {}, true},
      {"not an address", "From: application\r\n", {}, true},
      {"one good one bad", "From: a@example.org, nonsense\r\n", {}, true},
      {"unclosed group", "From: g: a@example.org\r\n", {}, true},
      {"stray >", "From: a@example.org>\r\n", {}, true},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      const auto got = summarizeHeaders(c.headers + "\r\nbody\r\n");
      CHECK(got.from_malformed == c.malformed);
      CHECK(got.from == c.want);
    }
  }
}

TEST_CASE("From lists are bounded") {
  std::string many = "From: ";
  for (int i = 0; i < 101; ++i) many += "a" + std::to_string(i) + "@example.org, ";
  many += "last@example.org\r\n\r\n";
  const auto got = summarizeHeaders(many);
  CHECK(got.from_malformed);
  CHECK(got.from.empty());
}

TEST_CASE("Message-ID") {
  struct Case {
    const char* headers;
    const char* want;
  };
  const Case cases[] = {
      {"Message-ID: <abc.123@example.org>\r\n", "abc.123@example.org"},
      {"message-id:   <abc@example.org>  \r\n", "abc@example.org"},
      {"Message-Id:\r\n <folded@example.org>\r\n", "folded@example.org"},
      {"Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\n", "first@x"},
      {"Message-ID: <a b@x>\r\n", ""},  // not printable without spaces: dropped
      {"Message-ID: <a\"b@x>\r\n", ""},
      {"Subject: no id\r\n", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.headers);
    CHECK(summarizeHeaders(std::string(c.headers) + "\r\nx\r\n").message_id == c.want);
  }
  const std::string long_id = "Message-ID: <" + std::string(300, 'a') + "@x>\r\n\r\n";
  CHECK(summarizeHeaders(long_id).message_id.empty());
}
