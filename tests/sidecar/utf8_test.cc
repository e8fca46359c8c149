// utf8_test.cc: validation and repair of UTF-8 for answers, logs and audit lines.
#include "sidecar/utf8.h"

#include <doctest/doctest.h>

#include "sidecar/audit.h"
#include "sidecar/log.h"

using namespace sidecar;

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
    CHECK(utf8::isValid(c.input) == c.valid);
    CHECK(utf8::sanitize(c.input) == c.sanitized);
    CHECK(utf8::isValid(utf8::sanitize(c.input)));
  }
}

TEST_CASE("a log line with invalid UTF-8 in a value is still valid UTF-8") {
  const auto line = log::format(log::Level::Warn, "x", {{"address", "a\xFF@example.test"}});
  CHECK(utf8::isValid(line));
  CHECK(line.find("a\xEF\xBF\xBD@example.test") != std::string::npos);
}

TEST_CASE("an audit line with invalid UTF-8 in a value is still valid UTF-8") {
  audit::Record r;
  r.sender = "a\xC0\xAF@example.test";
  r.smtp_text = "250 ok \xFF";
  const auto line = audit::formatLine(r);
  CHECK(utf8::isValid(line));
  CHECK(line.find("250 ok \xEF\xBF\xBD") != std::string::npos);
}
