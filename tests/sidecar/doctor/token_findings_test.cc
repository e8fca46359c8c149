// token_findings_test.cc: doctor's plain words for token endpoints and SES regions.
#include "sidecar/doctor/token_findings.h"

#include <doctest/doctest.h>

#include <string>

using namespace sidecar::doctor;
using sidecar::keeper::TokenRefusal;

TEST_CASE("tokenEndpoint names each cause") {
  struct Case {
    TokenRefusal refusal;
    foundation::Error error;
    const char* want_what;
    const char* want_hint;
  };
  const Case cases[] = {
      {TokenRefusal::InvalidClient,
       foundation::Error::permanent("token endpoint refused: invalid_client (...): AADSTS7000215"),
       "invalid client", "AADSTS7000215"},
      {TokenRefusal::InvalidScope,
       foundation::Error::permanent("token endpoint refused: invalid_scope"),
       "refused the scope https://outlook.office365.com/.default", ".default"},
      {TokenRefusal::InvalidGrant,
       foundation::Error::permanent("token endpoint refused: invalid_grant"),
       "refused the assertion", "clock"},
      {TokenRefusal::Unavailable,
       foundation::Error::temporary("token endpoint https://t/x unreachable: Connection refused"),
       "unreachable", "firewall"},
      {TokenRefusal::Unavailable, foundation::Error::temporary("token endpoint refused: HTTP 503"),
       "temporarily unavailable", "later"},
      {TokenRefusal::UnauthorizedClient,
       foundation::Error::permanent("token endpoint refused: unauthorized_client"),
       "does not allow", "grant"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.error.message);
    const Finding f =
        tokenEndpoint(&c.error, c.refusal, "https://t/x", "https://outlook.office365.com/.default");
    CHECK_FALSE(f.ok);
    CHECK_MESSAGE(f.what.find(c.want_what) != std::string::npos, f.what);
    CHECK_MESSAGE(f.hint.find(c.want_hint) != std::string::npos, f.hint);
  }
  const Finding ok = tokenEndpoint(nullptr, TokenRefusal::None, "https://t/x", "smtp", 3599);
  CHECK(ok.ok);
  CHECK(ok.what.find("valid 3599s") != std::string::npos);
}

TEST_CASE("sesRegion") {
  CHECK(sesRegion("eu-west-1").ok);
  CHECK(sesRegion("eu-west-1").what.find("email-smtp.eu-west-1.amazonaws.com") !=
        std::string::npos);
  const Finding f = sesRegion("xx-nowhere-1");
  CHECK_FALSE(f.ok);
  CHECK(f.what == "SES region xx-nowhere-1 has no SES SMTP endpoint");
}
