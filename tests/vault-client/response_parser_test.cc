// response_parser_test.cc: parsing Vault answers (table-driven, got/want).
#include "vault/response_parser.h"

#include <doctest/doctest.h>

using namespace vault;

namespace {
foundation::SecretBytes body(std::string_view s) {
  return foundation::SecretBytes::copyOf(s);
}
std::string text(const foundation::SecretBytes* s) {
  return s ? s->reveal([](std::string_view v) { return std::string(v); }) : "<missing>";
}
}  // namespace

TEST_CASE("parseAuth reads the auth block of an AppRole login") {
  auto b = body(R"({"request_id":"r1","lease_id":"","renewable":false,"lease_duration":0,
    "data":null,"wrap_info":null,"warnings":null,
    "auth":{"client_token":"s.tok\u0065n","accessor":"acc1","policies":["default","app"],
            "token_policies":["default","app"],"metadata":{"role_name":"app"},
            "lease_duration":300,"renewable":true,"entity_id":"e","token_type":"service",
            "orphan":true}})");
  auto got = response::parseAuth(b);
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(got->client_token.equals("s.token"));
  CHECK(got->accessor == "acc1");
  CHECK(got->lease_duration == std::chrono::seconds(300));
  CHECK(got->renewable);
  CHECK(got->policies == std::vector<std::string>{"default", "app"});
}

TEST_CASE("parseSecret reads lease fields, data and warnings") {
  auto b = body(R"({"request_id":"r2","lease_id":"database/creds/app/abc","renewable":true,
    "lease_duration":3600,"data":{"username":"smtp-x","password":"p\"w","n":5,"o":{"a":[1]}},
    "wrap_info":null,"warnings":["w1"],"auth":null})");
  auto got = response::parseSecret(b);
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(got->lease_id == "database/creds/app/abc");
  CHECK(got->lease_duration == std::chrono::seconds(3600));
  CHECK(got->renewable);
  CHECK(text(got->data.find("username")) == "smtp-x");
  CHECK(text(got->data.find("password")) == "p\"w");
  CHECK(text(got->data.find("n")) == "5");
  CHECK(text(got->data.find("o")) == R"({"a":[1]})");
  CHECK(got->data.find("missing") == nullptr);
  CHECK(got->warnings == std::vector<std::string>{"w1"});
}

TEST_CASE("malformed answers are refused with the field named, never its value") {
  struct Case {
    const char* name;
    std::string input;
    bool auth;  // parseAuth instead of parseSecret
    const char* want_in_message;
  };
  const Case cases[] = {
      {"not json", "{", false, "invalid JSON"},
      {"empty", "", false, "empty body"},
      {"array", "[]", false, "not a JSON object"},
      {"no auth", R"({"auth":null})", true, "no auth object"},
      {"token not a string", R"({"auth":{"client_token":5}})", true, "client_token"},
      {"negative duration", R"({"lease_duration":-1})", false, "lease_duration"},
      {"duration not a number", R"({"lease_duration":"1h"})", false, "lease_duration"},
      {"data not an object", R"({"data":[1]})", false, "data is not an object"},
      {"renewable not bool", R"({"renewable":"yes"})", false, "renewable"},
      {"warnings wrong type", R"({"warnings":[1]})", false, "warnings"},
      {"deep nesting", "{\"data\":{\"a\":" + std::string(40, '[') + std::string(40, ']') + "}}",
       false, "nested too deeply"},
      {"very deep nesting", "{\"data\":" + std::string(200000, '[') + "}", false, "invalid JSON"},
      {"bad utf-8", "{\"data\":{\"a\":\"\xff\"}}", false, "invalid JSON"},
      {"bytes after a complete object are ignored", "{} x", false, ""},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      auto b = body(c.input);
      const bool ok = c.auth ? response::parseAuth(b).ok() : response::parseSecret(b).ok();
      if (std::string(c.want_in_message).empty()) {
        CHECK(ok);
        continue;
      }
      auto b2 = body(c.input);
      const std::string message = c.auth ? response::parseAuth(b2).error().message
                                         : response::parseSecret(b2).error().message;
      CHECK_FALSE(ok);
      INFO("got: " << message);
      CHECK(message.find(c.want_in_message) != std::string::npos);
      CHECK(message.find("malformed response") == 0);
    }
  }
}

TEST_CASE("too many data fields") {
  std::string s = "{\"data\":{";
  for (std::size_t i = 0; i <= response::kMaxDataFields; ++i) {
    s += "\"f" + std::to_string(i) + "\":1,";
  }
  s.back() = '}';
  s += "}";
  auto b = body(s);
  CHECK_FALSE(response::parseSecret(b).ok());
}

TEST_CASE("parseError maps status and keeps Vault's text") {
  struct Case {
    long status;
    const char* body;
    foundation::ErrorKind want_kind;
    const char* want_message;
  };
  const Case cases[] = {
      {400, R"({"errors":["invalid role or secret ID"]})", foundation::ErrorKind::Permanent,
       "HTTP 400: invalid role or secret ID"},
      {403, R"({"errors":["1 error occurred:\n\t* permission denied\n\n"]})",
       foundation::ErrorKind::Permanent, "HTTP 403: 1 error occurred: * permission denied"},
      {429, "{}", foundation::ErrorKind::Temporary, "HTTP 429"},
      {503, R"({"errors":["Vault is sealed"]})", foundation::ErrorKind::Temporary,
       "HTTP 503: Vault is sealed"},
      {500, "not json", foundation::ErrorKind::Temporary, "HTTP 500"},
      {404, R"({"errors":[]})", foundation::ErrorKind::Permanent, "HTTP 404"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.status);
    auto b = body(c.body);
    const foundation::Error got = response::parseError(c.status, b);
    CHECK((got.kind == c.want_kind));
    CHECK(got.message == c.want_message);
  }
}
