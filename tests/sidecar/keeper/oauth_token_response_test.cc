// oauth_token_response_test.cc: token endpoint answers, table-driven.
#include "sidecar/keeper/oauth_token_response.h"

#include <doctest/doctest.h>

#include <string>

using sidecar::keeper::parseTokenResponse;
using sidecar::keeper::TokenRefusal;
using foundation::SecretBytes;

TEST_CASE("parseTokenResponse: answers that carry a token") {
  foundation::initSecretMemoryOrDie();
  struct Case {
    const char* body;
    const char* want_token;
    long want_expires;
    const char* want_scope;
  };
  const Case cases[] = {
      // Entra ID v2 (client credentials)
      {R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAi.eyJhdWQi.c2ln"})",
       "eyJ0eXAi.eyJhdWQi.c2ln", 3599, ""},
      // Entra ID v1 sends expires_in as a string
      {R"({"token_type":"Bearer","expires_in":"3599","access_token":"abc"})", "abc", 3599, ""},
      // Google, case-insensitive token_type, scope echoed
      {R"({"access_token":"ya29.c.b0AXv0zT","expires_in":3599,"token_type":"bearer","scope":"https://mail.google.com/"})",
       "ya29.c.b0AXv0zT", 3599, "https://mail.google.com/"},
      // Hydra
      {R"({"access_token":"ory_at_x-y_z~1+2/3==","expires_in":299,"scope":"smtp","token_type":"bearer"})",
       "ory_at_x-y_z~1+2/3==", 299, "smtp"},
      // no expires_in: 0 (the client applies its default)
      {R"({"access_token":"t","token_type":"Bearer"})", "t", 0, ""},
      // lifetimes beyond a day are clamped
      {R"({"access_token":"t","token_type":"Bearer","expires_in":9999999})", "t", 86400, ""},
      // unknown members are ignored
      {R"({"access_token":"t","token_type":"Bearer","id_token":null,"extra":{"a":[1,2]}})", "t", 0,
       ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    auto body = SecretBytes::copyOf(std::string_view(c.body));
    TokenRefusal refusal = TokenRefusal::Other;
    auto got = parseTokenResponse(200, body, &refusal);
    REQUIRE_MESSAGE(got.ok(), got.errorMessage());
    CHECK((refusal == TokenRefusal::None));
    CHECK(got->token.equals(std::string_view(c.want_token)));
    CHECK(got->expires_in.count() == c.want_expires);
    CHECK(got->scope == c.want_scope);
  }
}

TEST_CASE("parseTokenResponse: refusals name the cause and its kind") {
  foundation::initSecretMemoryOrDie();
  struct Case {
    long status;
    const char* body;
    TokenRefusal want;
    foundation::ErrorKind want_kind;
    const char* want_text;
  };
  const Case cases[] = {
      {401,
       R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."})",
       TokenRefusal::InvalidClient, foundation::ErrorKind::Permanent, "AADSTS7000215"},
      {400, R"({"error":"invalid_scope","error_description":"The requested scope is invalid"})",
       TokenRefusal::InvalidScope, foundation::ErrorKind::Permanent, "not granted to this client"},
      {400, R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})",
       TokenRefusal::InvalidGrant, foundation::ErrorKind::Permanent, "invalid_grant"},
      {400, R"({"error":"unauthorized_client"})", TokenRefusal::UnauthorizedClient,
       foundation::ErrorKind::Permanent, "grant type"},
      {400, R"({"error":"unsupported_grant_type"})", TokenRefusal::UnsupportedGrantType,
       foundation::ErrorKind::Permanent, "unsupported_grant_type"},
      {400, R"({"error":"invalid_request"})", TokenRefusal::InvalidRequest,
       foundation::ErrorKind::Permanent, "malformed"},
      {503, R"({"error":"temporarily_unavailable"})", TokenRefusal::Unavailable,
       foundation::ErrorKind::Temporary, "temporarily"},
      {500, "<html>oops</html>", TokenRefusal::Unavailable, foundation::ErrorKind::Temporary,
       "HTTP 500"},
      {429, "", TokenRefusal::Unavailable, foundation::ErrorKind::Temporary, "HTTP 429"},
      {403, R"({"error":"access_denied"})", TokenRefusal::Other, foundation::ErrorKind::Permanent,
       "access_denied"},
      // a 200 with an error object is a refusal too
      {200, R"({"error":"invalid_client"})", TokenRefusal::InvalidClient,
       foundation::ErrorKind::Permanent, "invalid_client"},
      // an error description with a quote or control bytes is dropped, not echoed
      {401, "{\"error\":\"invalid_client\",\"error_description\":\"bad\\u0007\\\"x\"}",
       TokenRefusal::InvalidClient, foundation::ErrorKind::Permanent, "HTTP 401)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    auto body = SecretBytes::copyOf(std::string_view(c.body));
    TokenRefusal refusal = TokenRefusal::None;
    auto got = parseTokenResponse(c.status, body, &refusal);
    REQUIRE_FALSE(got.ok());
    CHECK((refusal == c.want));
    CHECK((got.error().kind == c.want_kind));
    CHECK_MESSAGE(got.errorMessage().find(c.want_text) != std::string::npos, got.errorMessage());
    CHECK(got.errorMessage().rfind("token endpoint refused: ", 0) == 0);
  }
}

TEST_CASE("parseTokenResponse: malformed answers") {
  foundation::initSecretMemoryOrDie();
  struct Case {
    std::string body;
    const char* want_text;
  };
  const Case cases[] = {
      {"", "empty body"},
      {"not json", "invalid JSON"},
      {"[1]", "not a JSON object"},
      {R"({"token_type":"Bearer"})", "no access_token"},
      {R"({"access_token":42,"token_type":"Bearer"})", "no access_token"},
      {R"({"access_token":"a b","token_type":"Bearer"})", "b64token"},
      {R"({"access_token":"a\r\nQUIT","token_type":"Bearer"})", "b64token"},
      {R"({"access_token":"=abc","token_type":"Bearer"})", "b64token"},
      {R"({"access_token":"ab=c","token_type":"Bearer"})", "b64token"},
      {R"({"access_token":"","token_type":"Bearer"})", "b64token"},
      {R"({"access_token":"t"})", "no token_type"},
      {R"({"access_token":"t","token_type":"mac"})", "not Bearer"},
      {R"({"access_token":"t","token_type":"Bearer","expires_in":-1})", "expires_in"},
      {R"({"access_token":"t","token_type":"Bearer","expires_in":"12a"})", "expires_in"},
      {R"({"access_token":"t","token_type":"Bearer","expires_in":1.5})", "expires_in"},
      {R"({"access_token":"t","token_type":"Bearer","scope":"a\u0001"})", "scope"},
      {R"({"access_token":"t","token_type":"Bearer"} trailing)", "invalid JSON"},
      {std::string(R"({"a":)") + std::string(20, '[') + std::string(20, ']') + "}", "nested"},
      {R"({"access_token":")" + std::string(16 * 1024 + 1, 'a') + R"(","token_type":"Bearer"})",
       "longer than 16 KiB"},
      {std::string(64 * 1024 + 1, ' '), "larger than 64 KiB"},
      {std::string("{\"access_token\":\"t\0\",\"token_type\":\"Bearer\"}", 44), "NUL"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body.substr(0, 80));
    auto body = SecretBytes::copyOf(std::string_view(c.body));
    auto got = parseTokenResponse(200, body);
    REQUIRE_FALSE(got.ok());
    CHECK((got.error().kind == foundation::ErrorKind::Permanent));
    CHECK_MESSAGE(got.errorMessage().find(c.want_text) != std::string::npos, got.errorMessage());
  }
}

TEST_CASE("parseTokenResponse: the token never appears in an error") {
  foundation::initSecretMemoryOrDie();
  auto body = SecretBytes::copyOf(
      std::string_view(R"({"access_token":"SECRET-TOKEN","token_type":"mac"})"));
  auto got = parseTokenResponse(200, body);
  REQUIRE_FALSE(got.ok());
  CHECK(got.errorMessage().find("SECRET") == std::string::npos);
}
