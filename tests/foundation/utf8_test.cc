// utf8_test.cc: validation and repair of UTF-8 (for answers, logs and audit lines).
#include "foundation/utf8.h"

#include <doctest/doctest.h>

TEST_CASE("utf8: what is valid, and what sanitize makes of the rest") {
  struct Case {
    const char* name;
    std::string input;
    bool valid;
    std::string sanitized;
  };
  const std::string R = "\xEF\xBF\xBD";  // U+FFFD
  const Case cases[] = {
      {"ascii", "abc", true, "abc"},
      {"two-byte", "j\xC3\xB6rg", true, "j\xC3\xB6rg"},
      {"four-byte", "\xF0\x9F\x93\xA7", true, "\xF0\x9F\x93\xA7"},
      {"U+10FFFF", "\xF4\x8F\xBF\xBF", true, "\xF4\x8F\xBF\xBF"},
      {"lone continuation", "a\x80z", false, "a" + R + "z"},
      {"0xFF", "a\xFF", false, "a" + R},
      {"truncated", "a\xC3", false, "a" + R},
      {"overlong slash", "\xC0\xAF", false, R + R},
      {"overlong three-byte", "\xE0\x80\xAF", false, R + R + R},
      {"surrogate", "\xED\xA0\x80", false, R + R + R},
      {"above U+10FFFF", "\xF4\x90\x80\x80", false, R + R + R + R},
      {"empty", "", true, ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(foundation::utf8::isValid(c.input) == c.valid);
    CHECK(foundation::utf8::sanitize(c.input) == c.sanitized);
    CHECK(foundation::utf8::isValid(foundation::utf8::sanitize(c.input)));
  }
}
