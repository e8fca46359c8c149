// plain_words_test.cc: the plain-words machinery shared by the SMTP diagnosis and
// doctor's Vault findings (relay/plain_words.h): printable lines, case-blind matching,
// placeholders filled once, our values before the untrusted ones.
#include "sidecar/relay/plain_words.h"

#include <doctest/doctest.h>

#include <string>

using namespace sidecar::relay;

TEST_CASE("printableLine: untrusted text on one bounded line") {
  const struct {
    std::string in;
    std::size_t max;
    const char* want;
  } rows[] = {
      {"two\r\nlines\n\tand tabs  ", 300, "two lines and tabs"},
      {std::string("nul\0byte", 8), 300, "nul byte"},
      {"abcdefghij", 8, "abcde..."},
      {"abcdefgh", 8, "abcdefgh"},
      {"\x7f  lead and trail \x01", 300, "lead and trail"},
      {"abcdef", 2, "..."},
      {"", 300, ""},
  };
  for (const auto& row : rows) {
    CAPTURE(row.in);
    CHECK(printableLine(row.in, row.max) == row.want);
  }
}

TEST_CASE("containsNoCase: ASCII case ignored; an empty needle matches anything") {
  const struct {
    const char* haystack;
    const char* needle;
    bool want;
  } rows[] = {
      {"SSL: no alternative certificate Subject Name matches", "subject name", true},
      {"wrong version number", "WRONG VERSION", true},
      {"anything", "", true},
      {"", "", true},
      {"", "x", false},
      {"expire", "expired", false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.haystack);
    CAPTURE(row.needle);
    CHECK(containsNoCase(row.haystack, row.needle) == row.want);
  }
}

TEST_CASE("fillPlaceholders: each known {name} once, left to right; the rest stays") {
  const struct {
    const char* text;
    const char* want;
  } rows[] = {
      {"at {host}:{port}", "at mail.test:587"},
      {"{host}{host}", "mail.testmail.test"},
      {"{unknown} and {host}", "{unknown} and mail.test"},
      {"unclosed {host", "unclosed {host"},
      {"{}", "{}"},
      {"{nest}", "{host}"},  // a value is not scanned again
      {"", ""},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    CHECK(fillPlaceholders(
              row.text, {{"host", "mail.test"}, {"port", "587"}, {"nest", "{host}"}}) == row.want);
  }
}

TEST_CASE("plainFailure: ours first, then theirs; a placeholder in their text stays") {
  const PlainCause c = plainFailure("{host} said {reply}", "ask {host}", {{"host", "mail.test"}},
                                    {{"reply", "550 {host}"}, {"host", "evil"}});
  CHECK_FALSE(c.ok);
  CHECK(c.what == "mail.test said 550 {host}");
  CHECK(c.hint == "ask mail.test");
  const PlainCause only_ours = plainFailure("{a}", "", {{"a", "1"}});
  CHECK(only_ours.what == "1");
  CHECK(only_ours.hint.empty());
}
