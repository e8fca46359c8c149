// oauth_token_source_test.cc: token request bodies and settings checks (the requests
// themselves go to a real ORY Hydra in tests/e2e/test_oauth_token_sources.py).
#include "sidecar/keeper/oauth_token_source.h"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>

using namespace sidecar::keeper;
using foundation::SecretBytes;

namespace {
std::string revealed(const SecretBytes& s) {
  return s.reveal([](std::string_view v) { return std::string(v); });
}
TokenSourceSettings entra() {
  TokenSourceSettings s;
  s.token_endpoint = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
  s.client_id = "00000000-1111-2222-3333-444444444444";
  s.scope = "https://outlook.office365.com/.default";
  return s;
}
}  // namespace

TEST_CASE("formEncode") {
  CHECK(formEncode("abc-._*XYZ019") == "abc-._*XYZ019");
  CHECK(formEncode("a b") == "a+b");
  CHECK(formEncode("https://mail.google.com/") == "https%3A%2F%2Fmail.google.com%2F");
  CHECK(formEncode("p&q=r+s%") == "p%26q%3Dr%2Bs%25");
  CHECK(formEncode("\xc3\xa9") == "%C3%A9");
}

TEST_CASE("buildTokenRequestBody: client secret methods") {
  foundation::initSecretMemoryOrDie();
  const auto secret = SecretBytes::copyOf(std::string_view("s3cr&t=+ value"));
  auto s = entra();
  auto post = buildTokenRequestBody(s, secret, 0, "id");
  REQUIRE_MESSAGE(post.ok(), post.errorMessage());
  CHECK(revealed(*post) ==
        "grant_type=client_credentials&client_id=00000000-1111-2222-3333-444444444444"
        "&client_secret=s3cr%26t%3D%2B+value&scope=https%3A%2F%2Foutlook.office365.com%2F.default");
  s.authentication = ClientAuthentication::ClientSecretBasic;
  auto basic = buildTokenRequestBody(s, secret, 0, "id");
  REQUIRE(basic.ok());
  // The secret goes in the Authorization header, never in the body.
  CHECK(revealed(*basic) ==
        "grant_type=client_credentials&scope=https%3A%2F%2Foutlook.office365.com%2F.default");
  CHECK_FALSE(buildTokenRequestBody(s, SecretBytes(), 0, "id").ok());
}

TEST_CASE("buildTokenRequestBody: private_key_jwt and jwt_bearer carry an assertion") {
  foundation::initSecretMemoryOrDie();
  EVP_PKEY* key = EVP_EC_gen("P-256");
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  const auto pem = SecretBytes::copyOf(std::string_view(data, static_cast<std::size_t>(len)));
  BIO_free(bio);
  EVP_PKEY_free(key);

  auto s = entra();
  s.authentication = ClientAuthentication::PrivateKeyJwt;
  auto body = buildTokenRequestBody(s, pem, 1764633600, "jti-1");
  REQUIRE_MESSAGE(body.ok(), body.errorMessage());
  const std::string text = revealed(*body);
  CHECK(
      text.rfind(
          "grant_type=client_credentials&client_id=00000000-1111-2222-3333-444444444444"
          "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
          "&client_assertion=eyJ",
          0) == 0);
  CHECK(text.find("&scope=https%3A%2F%2Foutlook.office365.com%2F.default") != std::string::npos);

  TokenSourceSettings google;
  google.token_endpoint = "https://oauth2.googleapis.com/token";
  google.client_id = "sidecar@project.iam.gserviceaccount.com";
  google.scope = "https://mail.google.com/";
  google.subject = "app@example.test";
  google.authentication = ClientAuthentication::JwtBearerGrant;
  auto grant = buildTokenRequestBody(google, pem, 1764633600, "jti-2");
  REQUIRE(grant.ok());
  const std::string grant_text = revealed(*grant);
  CHECK(grant_text.rfind(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJ", 0) ==
        0);
  CHECK(grant_text.find("scope=") == std::string::npos);  // inside the assertion instead

  // A client secret where a key is expected is refused, not sent.
  auto wrong = buildTokenRequestBody(s, SecretBytes::copyOf(std::string_view("a secret")), 0, "j");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.errorMessage().find("oauth2 assertion") != std::string::npos);
}

TEST_CASE("validateTokenSourceSettings") {
  struct Case {
    const char* endpoint;
    bool ok;
  };
  const Case cases[] = {
      {"https://login.microsoftonline.com/t/oauth2/v2.0/token", true},
      {"http://127.0.0.1:4444/oauth2/token", true},
      {"http://localhost:4444/oauth2/token", true},
      {"http://[::1]:4444/oauth2/token", true},
      {"http://login.example.test/oauth2/token", false},  // plaintext off loopback
      {"http://127.0.0.1.example.test/x", false},         // a name, not a loopback literal
      {"http://localhost.example.test/x", false},
      {"ftp://x/y", false},
      {"https://x/a b", false},
      {"", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.endpoint);
    auto s = entra();
    s.token_endpoint = c.endpoint;
    CHECK(validateTokenSourceSettings(s).ok() == c.ok);
  }
  auto s = entra();
  s.client_id.clear();
  CHECK_FALSE(validateTokenSourceSettings(s).ok());
  s = entra();
  s.authentication = ClientAuthentication::JwtBearerGrant;
  s.scope.clear();
  CHECK_FALSE(validateTokenSourceSettings(s).ok());
  ClientAuthentication m{};
  CHECK(parseClientAuthentication("private_key_jwt", m));
  CHECK((m == ClientAuthentication::PrivateKeyJwt));
  CHECK_FALSE(parseClientAuthentication("none", m));
}
