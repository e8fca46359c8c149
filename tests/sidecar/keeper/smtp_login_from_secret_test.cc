// smtp_login_from_secret_test.cc: which leased secrets are SMTP logins, and how.
#include "sidecar/keeper/smtp_login_from_secret.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

using sidecar::keeper::smtpLoginFromSecret;

namespace {
vault::SecretData dataOf(const std::vector<std::pair<std::string, std::string>>& fields) {
  vault::SecretData d;
  for (const auto& [k, v] : fields) d.set(k, foundation::SecretBytes::copyOf(std::string_view(v)));
  return d;
}
std::string text(const foundation::SecretBytes& s) {
  return s.reveal([](std::string_view v) { return std::string(v); });
}
}  // namespace

TEST_CASE("smtpLoginFromSecret") {
  foundation::initSecretMemoryOrDie();
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, std::string>> fields;
    const char* region;
    const char* want_user;      // nullptr: refused
    const char* want_password;  // or the error text
    bool want_propagation;
    bool want_token = false;  // the password field holds a bearer token
  };
  const Case cases[] = {
      {"plugin login",
       {{"username", "u"}, {"password", "p"}, {"smtp_host", "h"}},
       "",
       "u",
       "p",
       false},
      {"username wins over an IAM key",
       {{"username", "u"}, {"password", "p"}, {"access_key", "A"}, {"secret_key", "S"}},
       "eu-west-1",
       "u",
       "p",
       false},
      {"IAM key",
       {{"access_key", "AKIA1"},
        {"secret_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
        {"security_token", ""}},
       "us-east-1",
       "AKIA1",
       "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9",
       true},
      {"IAM key, no region",
       {{"access_key", "A"}, {"secret_key", "S"}},
       "",
       nullptr,
       "set vault.ses_region",
       false},
      {"IAM key, region without SMTP",
       {{"access_key", "A"}, {"secret_key", "S"}},
       "xx-nowhere-1",
       nullptr,
       "has no SES SMTP endpoint",
       false},
      {"empty password",
       {{"username", "u"}, {"password", ""}},
       "",
       nullptr,
       "no username and password",
       false},
      {"nothing usable", {{"token", "t"}}, "eu-west-1", nullptr, "no username and password", false},
      {"plugin token login (credential_type jwt)",
       {{"username", "smtp-app-x"}, {"token", "eyJ.eyJ.sig"}, {"token_type", "JWT"}},
       "",
       "smtp-app-x",
       "eyJ.eyJ.sig",
       false,
       true},
      {"a token and a password",
       {{"username", "u"}, {"password", "p"}, {"token", "t"}},
       "",
       nullptr,
       "both a password and a token",
       false},
      {"NUL in token",
       {{"username", "u"}, {"token", std::string("t\0u", 3)}},
       "",
       nullptr,
       "NUL",
       false},
      {"NUL in password",
       {{"username", "u"}, {"password", std::string("p\0q", 3)}},
       "",
       nullptr,
       "NUL",
       false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto got = smtpLoginFromSecret(dataOf(c.fields), c.region);
    if (c.want_user == nullptr) {
      REQUIRE_FALSE(got.ok());
      CHECK((got.error().kind == foundation::ErrorKind::Permanent));
      CHECK_MESSAGE(got.errorMessage().find(c.want_password) != std::string::npos,
                    got.errorMessage());
      continue;
    }
    REQUIRE_MESSAGE(got.ok(), got.errorMessage());
    CHECK(text(got->username) == c.want_user);
    CHECK(text(got->password) == c.want_password);
    CHECK(got->needs_propagation == c.want_propagation);
    CHECK(got->is_token == c.want_token);
  }
}
