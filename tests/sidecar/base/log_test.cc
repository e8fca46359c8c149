// log_test.cc: the JSON-lines logger: one object per line, escaped, and no way to hand
// it a secret.
#include "sidecar/base/log.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <string>
#include <type_traits>

#include "foundation/secret.h"

using sidecar::log::Field;
using sidecar::log::Level;

// Redaction is built into the types: a SecretBytes (or its C view) is no field value.
static_assert(!std::is_constructible_v<Field, std::string_view, const foundation::SecretBytes&>);
static_assert(!std::is_constructible_v<Field, std::string_view, foundation::SecretBytes>);
static_assert(!std::is_constructible_v<Field, std::string_view, foundation::SecretBytes::CString>);

TEST_CASE("a log line is one JSON object with ts, level, event and the fields") {
  const std::string line = sidecar::log::format(Level::Warn, "smtp_reply",
                                                {{"code", 451},
                                                 {"text", "try \"later\"\nInjected: x"},
                                                 {"retry", true},
                                                 {"bytes", std::size_t{2048}}});
  CHECK(line.find('\n') == std::string::npos);  // a reply cannot start a forged line
  rapidjson::Document doc;
  doc.Parse(line.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["level"].GetString()) == "warn");
  CHECK(std::string(doc["event"].GetString()) == "smtp_reply");
  CHECK(doc["code"].GetInt64() == 451);
  CHECK(std::string(doc["text"].GetString()) == "try \"later\"\nInjected: x");
  CHECK(doc["retry"].GetBool());
  CHECK(doc["bytes"].GetInt64() == 2048);
  const std::string ts = doc["ts"].GetString();
  CHECK(ts.size() == 24);  // 2026-11-27T11:35:07.123Z
  CHECK(ts.back() == 'Z');
}
