// jwt_assertion_test.cc: RS256/ES256 assertions verify with the public key and carry
// the claims; unusable keys are refused.
#include "sidecar/keeper/jwt_assertion.h"

#include <doctest/doctest.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <rapidjson/document.h>
#include <sodium.h>

#include <memory>
#include <string>
#include <vector>

using sidecar::keeper::JwtAssertionClaims;
using sidecar::keeper::signJwtAssertion;
using foundation::SecretBytes;

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string pemOf(EVP_PKEY* key, const EVP_CIPHER* cipher = nullptr) {
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(bio != nullptr);
  static char pass[] = "passphrase";
  REQUIRE(PEM_write_bio_PrivateKey(bio, key, cipher,
                                   cipher ? reinterpret_cast<unsigned char*>(pass) : nullptr,
                                   cipher ? 10 : 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return pem;
}

std::string b64urlDecode(std::string_view part) {
  std::vector<unsigned char> out(part.size());
  std::size_t len = 0;
  REQUIRE(sodium_base642bin(out.data(), out.size(), part.data(), part.size(), nullptr, &len,
                            nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0);
  return {reinterpret_cast<const char*>(out.data()), len};
}

struct Jwt {
  std::string header, claims, signature, signing_input;
};
Jwt split(const SecretBytes& jwt) {
  const std::string text = jwt.reveal([](std::string_view v) { return std::string(v); });
  const auto a = text.find('.');
  const auto b = text.find('.', a + 1);
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  return {b64urlDecode(std::string_view(text).substr(0, a)),
          b64urlDecode(std::string_view(text).substr(a + 1, b - a - 1)),
          b64urlDecode(std::string_view(text).substr(b + 1)), text.substr(0, b)};
}

bool verifies(EVP_PKEY* key, const Jwt& jwt, bool es256) {
  std::string der = jwt.signature;
  if (es256) {  // JOSE r||s back to DER for OpenSSL
    REQUIRE(jwt.signature.size() == 64);
    ECDSA_SIG* sig = ECDSA_SIG_new();
    const auto* raw = reinterpret_cast<const unsigned char*>(jwt.signature.data());
    ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, nullptr), BN_bin2bn(raw + 32, 32, nullptr));
    unsigned char* out = nullptr;
    const int len = i2d_ECDSA_SIG(sig, &out);
    der.assign(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
    OPENSSL_free(out);
    ECDSA_SIG_free(sig);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                             reinterpret_cast<const unsigned char*>(jwt.signing_input.data()),
                             jwt.signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

JwtAssertionClaims sampleClaims() {
  JwtAssertionClaims c;
  c.issuer = "smtp-sidecar-client";
  c.subject = "smtp-sidecar-client";
  c.audience = "https://login.example.test/oauth2/token";
  c.jwt_id = "0123456789abcdef";
  c.key_id = "key-1";
  c.issued_at = 1764633600;
  c.lifetime = std::chrono::seconds(120);
  return c;
}

}  // namespace

TEST_CASE("signJwtAssertion: RS256 and ES256 verify with the public key") {
  foundation::initSecretMemoryOrDie();
  struct Case {
    const char* name;
    Pkey key;
    const char* alg;
  };
  Case cases[] = {
      {"rsa-2048", Pkey(EVP_RSA_gen(2048)), "RS256"},
      {"ec-p256", Pkey(EVP_EC_gen("P-256")), "ES256"},
  };
  for (auto& c : cases) {
    CAPTURE(c.name);
    REQUIRE(c.key);
    const auto pem = SecretBytes::copyOf(std::string_view(pemOf(c.key.get())));
    auto claims = sampleClaims();
    claims.scope = "https://mail.google.com/";
    claims.subject = "mailbox@example.test";
    auto jwt = signJwtAssertion(pem, claims);
    REQUIRE_MESSAGE(jwt.ok(), jwt.errorMessage());
    const Jwt parts = split(*jwt);
    CHECK(verifies(c.key.get(), parts, std::string(c.alg) == "ES256"));

    rapidjson::Document header;
    header.Parse(parts.header.c_str());
    REQUIRE(header.IsObject());
    CHECK(std::string(header["alg"].GetString()) == c.alg);
    CHECK(std::string(header["typ"].GetString()) == "JWT");
    CHECK(std::string(header["kid"].GetString()) == "key-1");

    rapidjson::Document body;
    body.Parse(parts.claims.c_str());
    REQUIRE(body.IsObject());
    CHECK(std::string(body["iss"].GetString()) == "smtp-sidecar-client");
    CHECK(std::string(body["sub"].GetString()) == "mailbox@example.test");
    CHECK(std::string(body["aud"].GetString()) == "https://login.example.test/oauth2/token");
    CHECK(std::string(body["scope"].GetString()) == "https://mail.google.com/");
    CHECK(std::string(body["jti"].GetString()) == "0123456789abcdef");
    CHECK(body["iat"].GetInt64() == 1764633600);
    CHECK(body["exp"].GetInt64() == 1764633600 + 120);

    // A changed signing input no longer verifies (the test's verifier is real).
    Jwt tampered = parts;
    tampered.signing_input[tampered.signing_input.size() - 1] ^= 1;
    CHECK_FALSE(verifies(c.key.get(), tampered, std::string(c.alg) == "ES256"));
  }
}

TEST_CASE("signJwtAssertion: claim text is JSON-escaped, control characters refused") {
  foundation::initSecretMemoryOrDie();
  Pkey key(EVP_EC_gen("P-256"));
  const auto pem = SecretBytes::copyOf(std::string_view(pemOf(key.get())));
  auto claims = sampleClaims();
  claims.subject = R"(a"b\c)";
  auto jwt = signJwtAssertion(pem, claims);
  REQUIRE(jwt.ok());
  rapidjson::Document body;
  body.Parse(split(*jwt).claims.c_str());
  REQUIRE(body.IsObject());
  CHECK(std::string(body["sub"].GetString()) == R"(a"b\c)");
  claims.subject = "a\nb";
  CHECK_FALSE(signJwtAssertion(pem, claims).ok());
}

TEST_CASE("signJwtAssertion: unusable keys and claims are refused") {
  foundation::initSecretMemoryOrDie();
  Pkey rsa1024(EVP_RSA_gen(1024));
  Pkey p384(EVP_EC_gen("P-384"));
  Pkey ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  Pkey ok(EVP_EC_gen("P-256"));
  struct Case {
    const char* name;
    std::string pem;
    const char* want;
  };
  const Case cases[] = {
      {"garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
       "not an unencrypted PEM"},
      {"empty", "", "empty"},
      {"encrypted", pemOf(ok.get(), EVP_aes_256_cbc()), "not an unencrypted PEM"},
      {"rsa-1024", pemOf(rsa1024.get()), "shorter than 2048"},
      {"p-384", pemOf(p384.get()), "P-256"},
      {"ed25519", pemOf(ed.get()), "neither RSA nor EC"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto got = signJwtAssertion(SecretBytes::copyOf(std::string_view(c.pem)), sampleClaims());
    REQUIRE_FALSE(got.ok());
    CHECK((got.error().kind == foundation::ErrorKind::Permanent));
    CHECK_MESSAGE(got.errorMessage().find(c.want) != std::string::npos, got.errorMessage());
  }
  const auto pem = SecretBytes::copyOf(std::string_view(pemOf(ok.get())));
  auto claims = sampleClaims();
  claims.lifetime = std::chrono::seconds(3600);
  CHECK_FALSE(signJwtAssertion(pem, claims).ok());
  claims = sampleClaims();
  claims.jwt_id.clear();
  CHECK_FALSE(signJwtAssertion(pem, claims).ok());
}

TEST_CASE("base64UrlEncode") {
  CHECK(sidecar::keeper::base64UrlEncode("") == "");
  CHECK(sidecar::keeper::base64UrlEncode("f") == "Zg");
  CHECK(sidecar::keeper::base64UrlEncode("\xfb\xff") == "-_8");
}
