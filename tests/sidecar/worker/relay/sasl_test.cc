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

namespace {
// The decoded payload of an "AUTH <mech> <b64>\r\n" line (the test's own decoder).
std::string payloadOf(const std::string& line) {
  const auto space = line.rfind(' ');
  const std::string b64 = line.substr(space + 1, line.size() - space - 3);
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0, value = 0;
  for (char c : b64) {
    if (c == '=') break;
    value = (value << 6) | static_cast<unsigned>(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xff));
    }
  }
  return out;
}
}  // namespace

TEST_CASE("OAUTHBEARER's authzid is a GS2 saslname: ',' and '=' escaped (RFC 5801)") {
  struct Case {
    std::string user;
    std::string gs2_header;  // what the payload starts with
  };
  const Case cases[] = {
      {"app@example.test", "n,a=app@example.test,"},
      {"a,b@example.test", "n,a=a=2Cb@example.test,"},
      {"a=b@example.test", "n,a=a=3Db@example.test,"},
      {",=,", "n,a==2C=3D=2C,"},
      {"==", "n,a==3D=3D,"},
      {"x", "n,a=x,"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.user);
    auto credential = fakes::testCredential("lease/1", "p", c.user.c_str());
    credential.password = foundation::SecretBytes::copyOf(std::string_view("tok"));
    const std::string payload =
        payloadOf(reveal(authCommand(SaslMechanism::OAuthBearer, credential)));
    CHECK(payload == c.gs2_header +
                         "\x01"
                         "auth=Bearer tok\x01\x01");
    // XOAUTH2 has no gs2 header: its user= is sent as is.
    CHECK(payloadOf(reveal(authCommand(SaslMechanism::XOAuth2, credential))) ==
          "user=" + c.user +
              "\x01"
              "auth=Bearer tok\x01\x01");
  }
}
