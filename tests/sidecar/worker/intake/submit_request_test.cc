// submit_request_test.cc: the submission input gate (envelope query, raw message).
#include "sidecar/intake/submit_request.h"

#include <doctest/doctest.h>

using namespace sidecar::submit;

TEST_CASE("checkAddress") {
  struct Case {
    const char* input;
    bool want_ok;
  };
  const Case cases[] = {
      {"app@example.test", true},
      {"first.last+tag@sub.example.test", true},
      {"jörg@example.test", true},
      {"", false},
      {"no-at-sign", false},
      {"@example.test", false},
      {"app@", false},
      {"a@b@c", false},
      {"app@example.test\r\nRCPT TO:<x@y>", false},
      {"app@exa\nmple.test", false},
      {"app @example.test", false},
      {"<app@example.test>", false},
      {"app@example..test", false},
      {"app@.example.test", false},
      {"\"quoted\"@example.test", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    const bool got_ok = std::holds_alternative<std::monostate>(checkAddress(c.input, false));
    CHECK(got_ok == c.want_ok);
  }
  CHECK(std::holds_alternative<std::monostate>(checkAddress("", true)));
  const std::string long_local = std::string(65, 'a') + "@example.test";
  CHECK(std::holds_alternative<ApiError>(checkAddress(long_local, false)));
  const std::string long_addr = "a@" + std::string(260, 'b');
  CHECK(std::holds_alternative<ApiError>(checkAddress(long_addr, false)));
  std::string with_nul = "app@example.test";
  with_nul[3] = '\0';
  CHECK(std::holds_alternative<ApiError>(checkAddress(with_nul, false)));
}

TEST_CASE("parseEnvelopeQuery accepts from and repeated or comma-separated to") {
  auto got = parseEnvelopeQuery("from=app%40example.test&to=a@example.test&to=b@x.test,c@y.test");
  REQUIRE(std::holds_alternative<Envelope>(got));
  const auto& env = std::get<Envelope>(got);
  CHECK(env.from == "app@example.test");
  REQUIRE(env.recipients.size() == 3);
  CHECK(env.recipients[0] == "a@example.test");
  CHECK(env.recipients[2] == "c@y.test");
}

TEST_CASE("parseEnvelopeQuery allows the null sender") {
  auto got = parseEnvelopeQuery("from=&to=a@example.test");
  REQUIRE(std::holds_alternative<Envelope>(got));
  CHECK(std::get<Envelope>(got).from.empty());
}

TEST_CASE("parseEnvelopeQuery errors") {
  struct Case {
    const char* query;
    unsigned want_status;
    const char* want_code;
  };
  const Case cases[] = {
      {"", 400, "missing_recipient"},
      {"to=a%20b", 422, "invalid_address"},
      {"from=app@example.test", 400, "missing_recipient"},
      {"from=app@example.test&to=", 422, "invalid_address"},
      {"from=app@example.test&to=a@example.test%0D%0ARCPT%20TO:<b@c>", 422, "invalid_address"},
      {"from=app%40example.test%0A&to=a@example.test", 422, "invalid_address"},
      {"from=app@example.test&to=a@example.test%00", 422, "invalid_address"},
      {"from=a%4", 400, "malformed_query"},
      {"from=a%zz@b&to=c@d", 400, "malformed_query"},
      {"from=a@b.test&from=c@d.test&to=e@f.test", 400, "malformed_query"},
      {"from=a@b.test&to=c@d.test&bcc=e@f.test", 400, "malformed_query"},
      {"from=a+b@c.test&to=c@d.test", 422, "invalid_address"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.query);
    auto got = parseEnvelopeQuery(c.query);
    REQUIRE(std::holds_alternative<ApiError>(got));
    CHECK(std::get<ApiError>(got).http_status == c.want_status);
    CHECK(std::get<ApiError>(got).code == c.want_code);
  }
}

TEST_CASE("parseEnvelopeQuery limits the number of recipients") {
  std::string query = "from=a@b.test";
  for (std::size_t i = 0; i <= kMaxRecipients; ++i)
    query += "&to=r" + std::to_string(i) + "@x.test";
  auto got = parseEnvelopeQuery(query);
  REQUIRE(std::holds_alternative<ApiError>(got));
  CHECK(std::get<ApiError>(got).code == "too_many_recipients");
}

TEST_CASE("normalizeRawMessage converts line endings and checks the message") {
  struct Case {
    const char* name;
    std::string input;
    const char* want;  // nullptr: expect an error
  };
  const Case cases[] = {
      {"LF endings", "Subject: hi\n\nbody\n", "Subject: hi\r\n\r\nbody\r\n"},
      {"CRLF kept", "Subject: hi\r\n\r\nbody\r\n", "Subject: hi\r\n\r\nbody\r\n"},
      {"final line ending added", "Subject: hi\n\nbody", "Subject: hi\r\n\r\nbody\r\n"},
      {"header only", "Subject: hi\n", "Subject: hi\r\n"},
      {"dots are left to SMTP", "Subject: x\n\n.\n..\n", "Subject: x\r\n\r\n.\r\n..\r\n"},
      {"empty", "", nullptr},
      {"no header", "just text\n", nullptr},
      {"space before colon", "Sub ject: x\n\nb\n", nullptr},
      {"NUL", std::string("Subject: x\n\nb\0c\n", 17), nullptr},
      {"bare CR", "Subject: x\n\nb\rc\n", nullptr},
      {"line too long", "Subject: x\n\n" + std::string(999, 'a') + "\n", nullptr},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      auto got = normalizeRawMessage(c.input);
      if (c.want == nullptr) {
        CHECK(std::holds_alternative<ApiError>(got));
      } else {
        REQUIRE(std::holds_alternative<std::string>(got));
        CHECK(std::get<std::string>(got) == c.want);
      }
    }
  }
}

TEST_CASE("splitTarget") {
  CHECK(splitTarget("/v1/messages?from=a").path == "/v1/messages");
  CHECK(splitTarget("/v1/messages?from=a").query == "from=a");
  CHECK(splitTarget("/v1/health").query.empty());
}

TEST_CASE("no from: the profile names the sender; local names are kept for the aliases") {
  auto got = parseEnvelopeQuery("to=root,ops@example.test");
  REQUIRE(std::holds_alternative<Envelope>(got));
  const auto& e = std::get<Envelope>(got);
  CHECK(e.implicit_from);
  CHECK(e.recipients == std::vector<std::string>{"root", "ops@example.test"});
  CHECK(isLocalName("root"));
  CHECK_FALSE(isLocalName("ro ot"));
  CHECK_FALSE(isLocalName(""));
  CHECK_FALSE(isLocalName(std::string(65, 'a')));
}
