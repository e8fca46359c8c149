// ses_smtp_password_test.cc: SES SMTP password derivation (the independent check
// against Python's hmac is check_ses_smtp_password.py).
#include "sidecar/keeper/ses_smtp_password.h"

#include <doctest/doctest.h>
#include <sodium.h>

#include <string>

using foundation::SecretBytes;
using sidecar::keeper::deriveSesSmtpPassword;

namespace {
std::string revealed(const SecretBytes& s) {
  return s.reveal([](std::string_view v) { return std::string(v); });
}
}  // namespace

TEST_CASE("SES SMTP password: fixed vectors, version byte, length") {
  foundation::initSecretMemoryOrDie();
  struct Case {
    const char* region;
    const char* secret;
    const char* want;  // computed with the Python reference (check_ses_smtp_password.py)
  };
  const Case cases[] = {
      {"us-east-1", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
       "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9"},
      {"eu-west-1", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
       "BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.region);
    auto got = deriveSesSmtpPassword(SecretBytes::copyOf(std::string_view(c.secret)), c.region);
    REQUIRE_MESSAGE(got.ok(), got.errorMessage());
    const std::string text = revealed(*got);
    CHECK(text == c.want);
    unsigned char raw[64];
    std::size_t raw_len = 0;
    REQUIRE(sodium_base642bin(raw, sizeof raw, text.data(), text.size(), nullptr, &raw_len, nullptr,
                              sodium_base64_VARIANT_ORIGINAL) == 0);
    CHECK(raw_len == 33);
    CHECK(raw[0] == sidecar::keeper::kSesSmtpPasswordVersion);
  }
}

// Known answers published by implementations that authenticate against the real SES
// SMTP endpoints, independent of ours and of check_ses_smtp_password.py's reference:
// terraform-provider-aws (internal/service/iam/access_key_test.go,
// TestSESSMTPPasswordFromSecretKeySigV4: its aws_iam_access_key.ses_smtp_password_v4)
// and AWS's own aws-sdk-php (tests/Ses/SesClientTest.php,
// testCanGenerateSmtpPasswordV4FromCredentials, AWS's documentation example key).
TEST_CASE("SES SMTP password: known answers of terraform-provider-aws and aws-sdk-php") {
  foundation::initSecretMemoryOrDie();
  struct Case {
    const char* region;
    const char* secret;
    const char* want;
  };
  const Case cases[] = {
      {"eu-central-1", "some+secret+key", "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2"},
      {"eu-central-1", "another+secret+key", "BBbphbrQmrKMx42d1N6+C7VINYEBGI5v9VsZeTxwskfh"},
      {"us-west-1", "some+secret+key", "BH+jbMzper5WwlwUar9E1ySBqHa9whi0GPo+sJ0mVYJj"},
      {"us-west-1", "another+secret+key", "BKVmjjMDFk/qqw8EROW99bjCS65PF8WKvK5bSr4Y6EqF"},
      {"us-east-2", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
       "BMPPgbAHoFVbze1Ud0oA5uNdXRwUXUZ+qOwphGJbl/cS"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.region);
    CAPTURE(c.secret);
    auto got = deriveSesSmtpPassword(SecretBytes::copyOf(std::string_view(c.secret)), c.region);
    REQUIRE_MESSAGE(got.ok(), got.errorMessage());
    CHECK(revealed(*got) == c.want);
  }
}

TEST_CASE("SES SMTP password: the region is part of the key") {
  foundation::initSecretMemoryOrDie();
  const auto secret =
      SecretBytes::copyOf(std::string_view("0123456789012345678901234567890123456789"));
  auto a = deriveSesSmtpPassword(secret, "us-east-1");
  auto b = deriveSesSmtpPassword(secret, "us-west-2");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK_FALSE(a->equals(*b));
}

TEST_CASE("SES SMTP password: refusals") {
  foundation::initSecretMemoryOrDie();
  const auto secret =
      SecretBytes::copyOf(std::string_view("0123456789012345678901234567890123456789"));
  struct Case {
    const char* region;
    const char* want_in_error;
  };
  const Case cases[] = {
      {"xx-nowhere-1", "has no SES SMTP endpoint"},
      {"US-EAST-1", "not a region"},
      {"", "not a region"},
      {"us-east-1\r\n", "not a region"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.region);
    auto got = deriveSesSmtpPassword(secret, c.region);
    REQUIRE_FALSE(got.ok());
    CHECK((got.error().kind == foundation::ErrorKind::Permanent));
    CHECK(got.errorMessage().find(c.want_in_error) != std::string::npos);
  }
  CHECK_FALSE(deriveSesSmtpPassword(SecretBytes(), "us-east-1").ok());
  CHECK_FALSE(deriveSesSmtpPassword(SecretBytes(200), "us-east-1").ok());
  CHECK(sidecar::keeper::sesSmtpHost("eu-west-1") == "email-smtp.eu-west-1.amazonaws.com");
  CHECK(sidecar::keeper::sesSmtpHost("xx-nowhere-1").empty());
}
