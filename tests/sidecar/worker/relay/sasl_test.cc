// sasl_test.cc: mechanism choice and the client messages (in locked memory).
#include "sidecar/relay/sasl.h"

#include <doctest/doctest.h>

#include <string>

#include "fakes/smtp_test_settings.h"

using namespace sidecar;
using namespace sidecar::relay;

namespace {
std::string reveal(const foundation::SecretBytes& s) {
  return s.reveal([](std::string_view v) { return std::string(v); });
}
}  // namespace

TEST_CASE("chooseMechanism follows the credential's kind and the server's offer") {
  struct Case {
    CredentialKind kind;
    unsigned offered;
    std::optional<SaslMechanism> want;
  };
  const Case cases[] = {
      {CredentialKind::Password, kSaslPlain | kSaslLogin, SaslMechanism::Plain},
      {CredentialKind::Password, kSaslLogin, SaslMechanism::Login},
      {CredentialKind::Password, kSaslXOAuth2 | kSaslOAuthBearer, std::nullopt},
      {CredentialKind::Password, 0, std::nullopt},
      {CredentialKind::OAuth2Token, kSaslPlain | kSaslXOAuth2 | kSaslOAuthBearer,
       SaslMechanism::OAuthBearer},
      {CredentialKind::OAuth2Token, kSaslPlain | kSaslXOAuth2, SaslMechanism::XOAuth2},
      {CredentialKind::OAuth2Token, kSaslPlain | kSaslLogin, std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.offered);
    CHECK(chooseMechanism(c.kind, c.offered) == c.want);
  }
}

TEST_CASE("the AUTH lines") {
  auto credential = fakes::testCredential("lease/1", "p", "user");
  CHECK(reveal(authCommand(SaslMechanism::Plain, credential)) == "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
  CHECK(reveal(authCommand(SaslMechanism::Login, credential)) == "AUTH LOGIN\r\n");
  CHECK(reveal(loginUsername(credential)) == "dXNlcg==\r\n");
  CHECK(reveal(loginPassword(credential)) == "cGFzcw==\r\n");
  credential.password = foundation::SecretBytes::copyOf(std::string_view("tok"));
  // base64("user=user\x01auth=Bearer tok\x01\x01")
  CHECK(reveal(authCommand(SaslMechanism::XOAuth2, credential)) ==
        "AUTH XOAUTH2 dXNlcj11c2VyAWF1dGg9QmVhcmVyIHRvawEB\r\n");
  // base64("n,a=user,\x01auth=Bearer tok\x01\x01")
  CHECK(reveal(authCommand(SaslMechanism::OAuthBearer, credential)) ==
        "AUTH OAUTHBEARER bixhPXVzZXIsAWF1dGg9QmVhcmVyIHRvawEB\r\n");
  CHECK(std::string(oauthErrorAcknowledgement(SaslMechanism::OAuthBearer)) == "AQ==\r\n");
  CHECK(std::string(oauthErrorAcknowledgement(SaslMechanism::XOAuth2)) == "\r\n");
}

TEST_CASE("an empty password still encodes") {
  auto credential = fakes::testCredential();
  credential.password = foundation::SecretBytes();
  CHECK(reveal(authCommand(SaslMechanism::Plain, credential)) == "AUTH PLAIN AHVzZXIA\r\n");
}
