// credentials_test.cc: durations, username templates, passwords, Dovecot hashes and
// sender keys.
// SECURITY: test-only; fixed or counting randomness, fake passwords.
// ERRORS: doctest assertions, table-driven with the error cases included.
#include "plugin/credentials.h"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <string>

#include "fakes.h"

using namespace smtpplugin;
using smtpplugin::testing::CountingRandom;

TEST_CASE("parseDurationSeconds") {
  const struct {
    const char* input;
    std::int64_t want;  // -1: error
  } cases[] = {
      {"90", 90},
      {"90s", 90},
      {"5m", 300},
      {"1h30m", 5400},
      {"2d", 172800},
      {"0", 0},
      {"", -1},
      {"5x", -1},
      {"-5s", -1},
      {"1h30", -1},
      {"m", -1},
      {"99999999999999999999", -1},
      {"9223372036854775807s", -1},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    auto got = parseDurationSeconds(c.input);
    if (c.want < 0) {
      CHECK_FALSE(got.ok());
    } else {
      REQUIRE(got.ok());
      CHECK(got.value() == c.want);
    }
  }
}

TEST_CASE("username templates") {
  foundation::initSecretMemoryOrDie();
  CountingRandom random;
  SUBCASE("default template") {
    auto got = expandUsernameTemplate(kDefaultUsernameTemplate, "News_Letter", "token", 7, random);
    REQUIRE(got.ok());
    CHECK(got->starts_with("smtp-news_letter-"));
    CHECK(got->size() == std::string("smtp-news_letter-").size() + 20);
  }
  SUBCASE("hostile role and display names are sanitised") {
    auto got = expandUsernameTemplate("{{display_name}}.{{role}}.{{unix_time}}.{{random 8}}",
                                      "a'b;c", "Ro\"ot\n", 1700000000, random);
    REQUIRE(got.ok());
    CHECK(got->starts_with("ro-ot-.a-b-c.1700000000."));
    for (char c : got.value()) {
      CHECK(((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'));
    }
  }
  SUBCASE("long names are cut but keep the random part") {
    auto got = expandUsernameTemplate(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-{{role}}-{{random 32}}", std::string(60, 'r'),
        "", 0, random);
    REQUIRE(got.ok());
    CHECK(got->size() == kMaxUsernameLength);
  }
  SUBCASE("invalid templates") {
    for (const char* t : {"{{role}}", "x-{{random 4}}", "x-{{random}", "X-{{random}}",
                          "{{nope}}-{{random}}", "a b{{random}}", "{{random 33}}"}) {
      CAPTURE(t);
      CHECK_FALSE(checkUsernameTemplate(t).ok());
    }
  }
  SUBCASE("random characters are spread over the alphabet") {
    auto a = expandUsernameTemplate("{{random 32}}", "", "", 0, random);
    auto b = expandUsernameTemplate("{{random 32}}", "", "", 0, random);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a.value() != b.value());
  }
}

TEST_CASE("passwords: 32 random bytes, URL-safe, in locked memory") {
  foundation::initSecretMemoryOrDie();
  smtpplugin::SodiumRandom random;
  auto p1 = generatePassword(random);
  auto p2 = generatePassword(random);
  CHECK(p1.size() == 43);
  CHECK_FALSE(p1.equals(p2));
  p1.reveal([](std::string_view s) {
    for (char c : s) {
      CHECK(((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_'));
    }
  });
}

TEST_CASE("hashPassword: Dovecot's salted SHA-2 schemes") {
  foundation::initSecretMemoryOrDie();
  CountingRandom random;
  const auto password = foundation::SecretBytes::copyOf(std::string_view("correct horse"));
  for (const auto& [scheme, md, len] :
       {std::tuple{"SSHA512", EVP_sha512(), 64}, std::tuple{"SSHA256", EVP_sha256(), 32}}) {
    CAPTURE(scheme);
    auto got = hashPassword(scheme, password, random);
    REQUIRE(got.ok());
    std::string text;
    got->reveal([&](std::string_view s) { text = std::string(s); });
    const std::string prefix = std::string("{") + scheme + "}";
    REQUIRE(text.starts_with(prefix));
    // Decode base64(digest || salt) and recompute digest(password || salt).
    const std::string b64 = text.substr(prefix.size());
    unsigned char raw[128];
    std::size_t raw_len = 0;
    REQUIRE(sodium_base642bin(raw, sizeof raw, b64.c_str(), b64.size(), nullptr, &raw_len, nullptr,
                              sodium_base64_VARIANT_ORIGINAL) == 0);
    REQUIRE(raw_len == static_cast<std::size_t>(len) + 16);
    std::string input = "correct horse";
    input.append(reinterpret_cast<const char*>(raw + len), 16);
    unsigned char want[64];
    unsigned int want_len = 0;
    REQUIRE(EVP_Digest(input.data(), input.size(), want, &want_len, md, nullptr) == 1);
    CHECK(std::string(reinterpret_cast<char*>(raw), static_cast<std::size_t>(len)) ==
          std::string(reinterpret_cast<char*>(want), want_len));
  }
  CHECK_FALSE(hashPassword("PLAIN", password, random).ok());
}

TEST_CASE("senderLookupKey") {
  const struct {
    const char* input;
    const char* want;  // nullptr: error
  } cases[] = {
      {"App@Example.Test", "app@example.test"},
      {"*@lists.example.test", "@lists.example.test"},
      {"first.last+tag@example.test", "first.last+tag@example.test"},
      {"example.test", nullptr},
      {"a@b@example.test", nullptr},
      {"a@localhost", nullptr},
      {"a'--@example.test", nullptr},
      {"a@exa mple.test", nullptr},
      {"@example.test", "@example.test"},
      {"a@.example.test", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    auto got = senderLookupKey(c.input);
    if (c.want == nullptr) {
      CHECK_FALSE(got.ok());
    } else {
      REQUIRE(got.ok());
      CHECK(got.value() == c.want);
    }
  }
}
