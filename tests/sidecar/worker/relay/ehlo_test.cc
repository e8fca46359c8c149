// ehlo_test.cc: EHLO capability parsing, table-driven.
#include "sidecar/relay/ehlo.h"

#include <doctest/doctest.h>

#include <string>

using namespace sidecar::relay;

TEST_CASE("parseEhlo") {
  struct Case {
    const char* name;
    std::string text;
    EhloCapabilities want;
  };
  EhloCapabilities postfix;
  postfix.pipelining = postfix.chunking = postfix.eightbitmime = postfix.smtputf8 = true;
  postfix.enhanced_codes = postfix.size = true;
  postfix.size_limit = 10240000;
  postfix.auth = kSaslPlain | kSaslLogin;
  postfix.auth_offered = true;
  EhloCapabilities pre_tls;
  pre_tls.starttls = pre_tls.pipelining = true;
  EhloCapabilities oauth;
  oauth.auth = kSaslXOAuth2 | kSaslOAuthBearer | kSaslLogin;
  oauth.auth_offered = true;
  EhloCapabilities size_only;
  size_only.size = true;
  const Case cases[] = {
      {"postfix after TLS",
       "mail.test\nPIPELINING\nSIZE 10240000\nVRFY\nETRN\nAUTH PLAIN LOGIN\nAUTH=PLAIN "
       "LOGIN\nENHANCEDSTATUSCODES\n8BITMIME\nDSN\nSMTPUTF8\nCHUNKING",
       postfix},
      {"before TLS: no AUTH", "mail.test ESMTP\nSTARTTLS\nPIPELINING", pre_tls},
      {"case-insensitive, OAuth mechanisms, unknown ones ignored",
       "x\nauth xoauth2 OAuthBearer login CRAM-MD5 GSSAPI", oauth},
      {"SIZE without a number", "x\nSIZE", size_only},
      {"SIZE not a number", "x\nSIZE abc", size_only},
      {"SIZE overflowing 64 bits", "x\nSIZE 99999999999999999999", size_only},
      {"SIZE too long", "x\nSIZE 123456789012345678901", size_only},
      {"only the greeting line", "mail.test", {}},
      {"empty", "", {}},
      {"keywords are not prefixes", "x\nPIPELININGX\nSTARTTLSNOT\nAUTHPLAIN", {}},
      {"the first line is never a keyword", "PIPELINING\nSIZE", size_only},
      {"CR before LF tolerated", "x\r\nPIPELINING\r\n",
       [] {
         EhloCapabilities c;
         c.pipelining = true;
         return c;
       }()},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(parseEhlo(c.text) == c.want);
  }
}

TEST_CASE("parseEhlo limits: lines past kMaxEhloLines and overlong lines are not read") {
  std::string text = "x";
  for (std::size_t i = 0; i < kMaxEhloLines; ++i) text += "\nX-FILLER";
  text += "\nPIPELINING";
  CHECK_FALSE(parseEhlo(text).pipelining);
  CHECK_FALSE(parseEhlo("x\nAUTH " + std::string(600, 'A') + " PLAIN").auth);
  std::string many = "x\nAUTH";
  for (std::size_t i = 0; i < kMaxAuthMechanisms; ++i) many += " X" + std::to_string(i);
  many += " PLAIN";
  CHECK(parseEhlo(many).auth == 0u);
}
