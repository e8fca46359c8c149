// sender_rule_test.cc: the sender patterns of a profile: their syntax and the match.
#include "mailformat/sender_rule.h"

#include <doctest/doctest.h>

using namespace mailformat;

TEST_CASE("sender patterns: validation") {
  struct Case {
    const char* pattern;
    bool ok;
  };
  const Case cases[] = {
      {"noreply@example.org", true},
      {"*@example.org", true},
      {"a.b+c@mail.example.org", true},
      {"example.org", false},
      {"@example.org", false},
      {"*@*.example.org", false},
      {"no*@example.org", false},
      {"*@", false},
      {"a@b@c", false},
      {"a b@example.org", false},
      {"a@exa mple.org", false},
      {"*@.example.org", false},
      {"", false},
      {"a@example.org.", false},
      {"<a@example.org>", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.pattern);
    CHECK(checkSenderPattern(c.pattern).ok() == c.ok);
  }
}

TEST_CASE("sender patterns: matching") {
  const std::vector<std::string> patterns = {"noreply@example.org", "*@apps.example.org"};
  struct Case {
    const char* address;
    bool allowed;
  };
  const Case cases[] = {
      {"noreply@example.org", true},       {"NoReply@Example.ORG", true},  // case-insensitive
      {"other@example.org", false},        {"x@apps.example.org", true},
      {"x@APPS.example.org", true},        {"x@sub.apps.example.org", false},  // not subdomains
      {"x@apps.example.org.evil", false},  {"x@evilapps.example.org", false},
      {"noreply@example.org.evil", false}, {"", false},  // the null sender
      {"@apps.example.org", false},        {"apps.example.org", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.address);
    CHECK(senderAllowed(patterns, c.address) == c.allowed);
  }
  CHECK(senderAllowed({}, "anyone@anywhere.test"));
  CHECK(senderAllowed({}, ""));
}
