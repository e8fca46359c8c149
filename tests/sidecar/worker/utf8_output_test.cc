// utf8_output_test.cc: a log line and an audit line stay valid UTF-8 JSON whatever
// bytes their values carry (issue 17).
#include <doctest/doctest.h>

#include "foundation/utf8.h"
#include "sidecar/base/log.h"
#include "sidecar/worker/audit.h"

using namespace sidecar;

TEST_CASE("a log line with invalid UTF-8 in a value is still valid UTF-8") {
  const auto line = log::format(log::Level::Warn, "x", {{"address", "a\xFF@example.test"}});
  CHECK(foundation::utf8::isValid(line));
  CHECK(line.find("a\xEF\xBF\xBD@example.test") != std::string::npos);
}

TEST_CASE("an audit line with invalid UTF-8 in a value is still valid UTF-8") {
  audit::Record r;
  r.sender = "a\xC0\xAF@example.test";
  r.smtp_text = "250 ok \xFF";
  const auto line = audit::formatLine(r);
  CHECK(foundation::utf8::isValid(line));
  CHECK(line.find("250 ok \xEF\xBF\xBD") != std::string::npos);
}
