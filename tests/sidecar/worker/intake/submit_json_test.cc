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
      // Issue 17: limits and checks that a repeated key or trailing data would bypass.
      {"repeated attachments",
       R"({"from":"a@b.test","to":"c@d.test","text":"x","attachments":[],"attachments":[]})", 400,
       "malformed_json"},
      {"repeated headers",
       R"({"from":"a@b.test","to":"c@d.test","text":"x","headers":{},"headers":{}})", 400,
       "malformed_json"},
      {"repeated from", R"({"from":"a@b.test","from":"e@x.test","to":"c@d.test","text":"x"})", 400,
       "malformed_json"},
      {"repeated header name, other case",
       R"({"from":"a@b.test","to":"c@d.test","text":"x","headers":{"X-A":"1","x-a":"2"}})", 400,
       "malformed_json"},
      {"repeated attachment member",
       R"({"from":"a@b.test","to":"c@d.test","attachments":[{"filename":"a","content":"aGk=",)"
       R"("filename":"b"}]})",
       400, "malformed_json"},
      {"repeated mailbox member",
       R"({"from":{"address":"a@b.test","address":"e@x.test"},"to":"c@d.test","text":"x"})", 400,
       "malformed_json"},
      {"data after the object", R"({"from":"a@b.test","to":"c@d.test","text":"x"} {"to":"e@x"})",
       400, "malformed_json"},
      {"garbage after the object", R"({"from":"a@b.test","to":"c@d.test","text":"x"}xyz)", 400,
       "malformed_json"},
      {"bare CR in text", R"({"from":"a@b.test","to":"c@d.test","text":"a\r.\r\nMAIL FROM:<e@x>"})",
       422, "invalid_message"},
      {"bare CR at the end of html", R"({"from":"a@b.test","to":"c@d.test","html":"a\r"})", 422,
       "invalid_message"},
      {"Resent-From header",
       R"({"from":"a@b.test","to":"c@d.test","text":"x",)"
       R"("headers":{"Resent-From":"e@x.test"}})",
       422, "invalid_header"},
      {"Resent-Sender header",
       R"({"from":"a@b.test","to":"c@d.test","text":"x",)"
       R"("headers":{"resent-sender":"e@x.test"}})",
       422, "invalid_header"},
      {"Sender header",
       R"({"from":"a@b.test","to":"c@d.test","text":"x",)"
       R"("headers":{"Sender":"e@x.test"}})",
       422, "invalid_header"},
      {"recipient not UTF-8", "{\"from\":\"a@b.test\",\"to\":\"c\\u00ff@d.test\",\"text\":\"x\"}",
       0, nullptr},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      auto got = parseJsonSubmission(c.body);
      if (c.want_code == nullptr) {  // accepted
        CHECK(std::holds_alternative<JsonSubmission>(got));
        continue;
      }
      REQUIRE(std::holds_alternative<ApiError>(got));
      CHECK(std::get<ApiError>(got).http_status == c.want_status);
      CHECK(std::get<ApiError>(got).code == c.want_code);
    }
  }
}

TEST_CASE("nesting deeper than 16 levels is refused before it is parsed") {
  std::string ok = R"({"from":"a@b.test","to":"c@d.test","text":"x[[[[[[[[[[[[[[[[[[[[[["})";
  CHECK(std::holds_alternative<JsonSubmission>(parseJsonSubmission(ok)));  // not in strings
  std::string deep = "{\"a\":" + std::string(17, '[') + std::string(17, ']') + "}";
  auto got = parseJsonSubmission(deep);
  REQUIRE(std::holds_alternative<ApiError>(got));
  CHECK(std::get<ApiError>(got).message.find("deeper") != std::string::npos);
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

TEST_CASE("in-place parsing reads the same as parsing a copy") {
  std::string body = R"({"from":"A \"B\" <a@b.test>","to":"c@d.test","text":"x\u00e9\n",)"
                     R"("attachments":[{"filename":"f","content":"aGk="}]})";
  const auto copy = parseJsonSubmission(body);
  auto in_place = parseJsonSubmissionInPlace(body);
  REQUIRE(std::holds_alternative<JsonSubmission>(copy));
  REQUIRE(std::holds_alternative<JsonSubmission>(in_place));
  const auto& a = std::get<JsonSubmission>(copy);
  const auto& b = std::get<JsonSubmission>(in_place);
  CHECK(a.message.from.name == b.message.from.name);
  CHECK(a.message.text == b.message.text);
  CHECK(b.message.text == "x\xc3\xa9\n");
  CHECK(b.message.attachments.at(0).content == "hi");
  std::string with_nul("{\"from\":\"a@b.test\"}\0", 19);
  CHECK(std::holds_alternative<ApiError>(parseJsonSubmissionInPlace(with_nul)));
}
