// address_test.cc: the one address parser and the envelope address check.
#include "mailformat/address.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

using mailformat::checkAddress;
using mailformat::parseAddressList;
using List = std::optional<std::vector<std::string>>;

TEST_CASE("parseAddressList: what it reads, and what it refuses to guess") {
  struct Case {
    const char* value;
    List want;
  };
  const Case cases[] = {
      {"a@x.test", List{{"a@x.test"}}},
      {" a@x.test , b@x.test ", List{{"a@x.test", "b@x.test"}}},
      {"A <a@x.test>", List{{"a@x.test"}}},
      {"\"Last, First\" <a@x.test>, b@x.test", List{{"a@x.test", "b@x.test"}}},
      {"\"q\\\"uoted, <no@x.test>\" <a@x.test>", List{{"a@x.test"}}},
      {"a@x.test (Comment, with comma)", List{{"a@x.test"}}},
      {"(nested (comment)) a@x.test", List{{"a@x.test"}}},
      {"team: a@x.test, B <b@x.test>;, c@x.test", List{{"a@x.test", "b@x.test", "c@x.test"}}},
      {"undisclosed-recipients:;", List{std::vector<std::string>{}}},
      {"", List{std::vector<std::string>{}}},
      {",,,", List{std::vector<std::string>{}}},
      {"Jörg <j@x.test>", List{{"j@x.test"}}},
      // Refused: source routes, an unclosed angle, no domain, a quoted name alone.
      {"<@relay.test,@r2.test:a@x.test>", std::nullopt},
      {"<a@x.test", std::nullopt},
      {"root", std::nullopt},
      {"\"Name only\"", std::nullopt},
      {"a@x.test>", std::nullopt},
      {"(unclosed comment a@x.test", std::nullopt},
      {"team: a@x.test", std::nullopt},
  };
  for (const auto& c : cases) {
    const std::string captured_value = c.value;
    CAPTURE(captured_value);
    CHECK(parseAddressList(c.value, 100) == c.want);
  }
}

TEST_CASE("parseAddressList: the address limit") {
  std::string many;
  for (int i = 0; i < 4; ++i) many += "u" + std::to_string(i) + "@x.test,";
  CHECK(parseAddressList(many, 4).has_value());
  CHECK_FALSE(parseAddressList(many, 3).has_value());
}

TEST_CASE("checkAddress") {
  CHECK_FALSE(checkAddress("a@x.test", false));
  CHECK_FALSE(checkAddress("", true));
  CHECK(checkAddress("", false));
  CHECK(checkAddress("a@x.test\r\nRCPT TO:<b@x.test>", false));
  CHECK(checkAddress("a b@x.test", false));
  CHECK(checkAddress("a@b@x.test", false));
  CHECK(checkAddress("a@x..test", false));
  CHECK(checkAddress(std::string(mailformat::kMaxLocalPart + 1, 'a') + "@x.test", false));
}
