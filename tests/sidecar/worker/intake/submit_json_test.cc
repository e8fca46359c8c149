// submit_json_test.cc: parsing the JSON submission format.
#include "sidecar/intake/submit_json.h"

#include <doctest/doctest.h>

using namespace sidecar::submit;

TEST_CASE("a full JSON submission") {
  const char* body = R"({
    "from": "Example App <app@example.test>",
    "to": ["a@example.test", {"name": "Bea", "address": "b@example.test"}],
    "cc": "c@example.test",
    "bcc": ["hidden@example.test"],
    "reply_to": "support@example.test",
    "subject": "Grüße",
    "text": "hello",
    "html": "<b>hello</b>",
    "headers": {"X-Campaign": "spring"},
    "attachments": [{"filename": "a.txt", "content_type": "text/plain", "content": "aGk="}]
  })";
  auto got = parseJsonSubmission(body);
  REQUIRE(std::holds_alternative<JsonSubmission>(got));
  const auto& s = std::get<JsonSubmission>(got);
  CHECK(s.envelope.from == "app@example.test");
  CHECK(s.envelope.recipients == std::vector<std::string>{"a@example.test", "b@example.test",
                                                          "c@example.test", "hidden@example.test"});
  CHECK(s.message.from.name == "Example App");
  CHECK(s.message.to.size() == 2);
  CHECK(s.message.to[1].name == "Bea");
  CHECK(s.message.reply_to.size() == 1);
  CHECK(s.message.attachments.at(0).content == "hi");
  CHECK(s.message.extra_headers.at(0).first == "X-Campaign");
}

TEST_CASE("JSON submission errors") {
  struct Case {
    const char* name;
    const char* body;
    unsigned want_status;
    const char* want_code;
  };
  const Case cases[] = {
      {"not json", "{", 400, "malformed_json"},
      {"not an object", "[]", 400, "malformed_json"},
      {"unknown member", R"({"from":"a@b.test","to":"c@d.test","text":"x","bogus":1})", 400,
       "malformed_json"},
      {"missing from", R"({"to":"c@d.test","text":"x"})", 400, "missing_sender"},
      {"missing recipients", R"({"from":"a@b.test","text":"x"})", 400, "missing_recipient"},
      {"no body", R"({"from":"a@b.test","to":"c@d.test"})", 400, "empty_message"},
      {"bad address", R"({"from":"a@b.test","to":"c@","text":"x"})", 422, "invalid_address"},
      {"crlf before an address",
       R"({"from":"a@b.test\r\nRCPT TO:<x@y>","to":"c@d.test","text":"x"})", 422, "invalid_header"},
      {"crlf in address", R"({"from":"A <a@b.test\r\n>","to":"c@d.test","text":"x"})", 422,
       "invalid_address"},
      {"crlf in subject",
       R"({"from":"a@b.test","to":"c@d.test","text":"x","subject":"a\r\nBcc: x@y"})", 422,
       "invalid_header"},
      {"crlf in header value",
       R"({"from":"a@b.test","to":"c@d.test","text":"x","headers":{"X-A":"1\nBcc: e@f"}})", 422,
       "invalid_header"},
      {"bad header name", R"({"from":"a@b.test","to":"c@d.test","text":"x","headers":{"X A":"1"}})",
       422, "invalid_header"},
      {"reserved header",
       R"({"from":"a@b.test","to":"c@d.test","text":"x","headers":{"Content-Type":"text/html"}})",
       422, "invalid_header"},
      {"reserved header any case",
       R"({"from":"a@b.test","to":"c@d.test","text":"x","headers":{"mEsSaGe-Id":"<x@y>"}})", 422,
       "invalid_header"},
      {"crlf in display name",
       R"({"from":{"name":"A\r\nB","address":"a@b.test"},"to":"c@d.test","text":"x"})", 422,
       "invalid_header"},
      {"bad base64",
       R"({"from":"a@b.test","to":"c@d.test","attachments":[{"filename":"a","content":"!!"}]})",
       422, "invalid_attachment"},
      {"path in filename",
       R"({"from":"a@b.test","to":"c@d.test","attachments":[{"filename":"../a","content":"aGk="}]})",
       422, "invalid_attachment"},
      {"bad content type",
       R"({"from":"a@b.test","to":"c@d.test","attachments":[{"filename":"a","content_type":"text","content":"aGk="}]})",
       422, "invalid_attachment"},
      {"wrong type", R"({"from":"a@b.test","to":"c@d.test","text":5})", 400, "malformed_json"},
      {"nul in text", "{\"from\":\"a@b.test\",\"to\":\"c@d.test\",\"text\":\"a\\u0000b\"}", 422,
       "invalid_message"},
      {"invalid utf-8", "{\"from\":\"a@b.test\",\"to\":\"c@d.test\",\"text\":\"\xff\"}", 400,
       "malformed_json"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      auto got = parseJsonSubmission(c.body);
      REQUIRE(std::holds_alternative<ApiError>(got));
      CHECK(std::get<ApiError>(got).http_status == c.want_status);
      CHECK(std::get<ApiError>(got).code == c.want_code);
    }
  }
}

TEST_CASE("deep nesting does not recurse") {
  std::string deep = R"({"from":"a@b.test","to":"c@d.test","text":"x","headers":)";
  deep += std::string(100000, '[') + std::string(100000, ']') + "}";
  auto got = parseJsonSubmission(deep);
  CHECK(std::holds_alternative<ApiError>(got));
}

TEST_CASE("too many recipients in all") {
  std::string body = R"({"from":"a@b.test","text":"x","to":[)";
  for (int i = 0; i < 60; ++i) body += "\"t" + std::to_string(i) + "@x.test\",";
  body.pop_back();
  body += R"(],"cc":[)";
  for (int i = 0; i < 60; ++i) body += "\"c" + std::to_string(i) + "@x.test\",";
  body.pop_back();
  body += "]}";
  auto got = parseJsonSubmission(body);
  REQUIRE(std::holds_alternative<ApiError>(got));
  CHECK(std::get<ApiError>(got).code == "too_many_recipients");
}
