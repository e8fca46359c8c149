// smtp_diagnosis_test.cc: an SMTP session's raw facts -> the plain words doctor prints and
// a failed send answers with, case by case. The details are what the relay client
// really records (asio_smtp_sender.cc) for the failures tests/e2e/test_doctor.py and
// test_config_surface.py drive against the real Postfix.
#include "sidecar/relay/smtp_diagnosis.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <string>

using namespace sidecar;
using namespace sidecar::relay;

namespace {

bool has(const std::string& text, const char* part) {
  return part == nullptr || text.find(part) != std::string::npos;
}

SmtpSettings starttls587() {
  SmtpSettings s;
  s.host = "mail.example.test";
  s.port = 587;
  s.tls = SmtpTls::StartTls;
  s.ca_file = "/etc/ca.pem";
  return s;
}

}  // namespace

TEST_CASE("diagnoseSmtp: connection, TLS and AUTH failures") {
  using F = SmtpProbeResult::Failure;
  struct Case {
    SmtpTls tls;
    F failure;
    int os_errno;
    long verify;
    const char* detail;
    bool greeted, auth_offered, auth_tried;
    int reply_code;
    const char* reply_text;
    bool want_ok;
    const char* want;
    const char* want_hint;
  };
  const SmtpTls S = SmtpTls::StartTls, I = SmtpTls::Implicit;
  const Case cases[] = {
      {S, F::None, 0, 0, "", true, true, true, 0, "", true, "TLS verified, AUTH accepted", nullptr},
      {S, F::None, 0, 0, "", true, true, false, 0, "", true, "AUTH not tried: no credential",
       nullptr},
      {S, F::Resolve, 0, 0, "resolve: Host not found (authoritative)", false, false, false, 0, "",
       false, "SMTP host mail.example.test does not resolve", "smtp.host"},
      {S, F::Connect, ECONNREFUSED, 0, "connect: Connection refused", false, false, false, 0, "",
       false,
       "SMTP connection refused at mail.example.test:587 (nothing listens there, or a firewall "
       "rejects it)",
       "465 with tls = \"implicit\""},
      {I, F::Connect, ECONNREFUSED, 0, "connect: Connection refused", false, false, false, 0, "",
       false, "connection refused at mail.example.test:465", "587 with tls = \"starttls\""},
      {S, F::Connect, ETIMEDOUT, 0, "connect: Connection timed out", false, false, false, 0, "",
       false, "SMTP connection to mail.example.test:587 timed out", "blocked"},
      {S, F::Connect, ENETUNREACH, 0, "connect: Network is unreachable", false, false, false, 0, "",
       false, "cannot connect to the SMTP server mail.example.test:587: connect: Network is",
       "blocked"},
      {S, F::Timeout, 0, 0, "connection timed out", false, false, false, 0, "", false,
       "connecting to the SMTP server mail.example.test:587 timed out", "465"},
      {S, F::Timeout, 0, 0, "timed out waiting for the SMTP server", false, false, false, 0, "",
       false, "accepted the connection but sent no greeting", "implicit TLS"},
      {S, F::Timeout, 0, 0, "timed out waiting for the SMTP server", true, true, false, 0, "",
       false, "timed out after the greeting", "timeout_seconds"},
      {S, F::NoStartTls, 0, 0, "the SMTP server does not offer STARTTLS", true, true, false, 0, "",
       false, "does not offer STARTTLS", "587"},
      {S, F::StartTlsRefused, 0, 0, "STARTTLS refused", true, true, false, 454,
       "4.7.0 TLS not available", false, "refused STARTTLS (454 4.7.0 TLS not available)", "log"},
      {S, F::Tls, 0, 62, "TLS handshake: certificate verify failed: hostname mismatch", true, false,
       false, 0, "", false,
       "TLS verification failed: the certificate of the SMTP server mail.example.test:587 does not "
       "cover the name mail.example.test",
       "subjectAltName"},
      {S, F::Tls, 0, 20,
       "TLS handshake: certificate verify failed: unable to get local issuer certificate", true,
       false, false, 0, "", false, "not signed by a CA in smtp.ca_file (/etc/ca.pem)",
       "smtp.ca_file"},
      {S, F::Tls, 0, 18, "TLS handshake: certificate verify failed: self-signed certificate", true,
       false, false, 0, "", false, "presents a self-signed certificate that is not in smtp.ca_file",
       "smtp.ca_file"},
      {S, F::Tls, 0, 10, "TLS handshake: certificate verify failed: certificate has expired", true,
       false, false, 0, "", false, "has expired", "clock"},
      {I, F::Tls, 0, 0, "TLS handshake: wrong version number (SSL routines)", false, false, false,
       0, "", false, "does not speak TLS from the first byte", "starttls"},
      {S, F::Tls, 0, 0, "smtp.ca_file /nope.pem: No such file or directory", false, false, false, 0,
       "", false, "cannot read the CA file smtp.ca_file (/etc/ca.pem)", "readable PEM"},
      {S, F::Tls, 0, 0, "TLS handshake: sslv3 alert handshake failure", true, false, false, 0, "",
       false, "TLS handshake with mail.example.test:587 failed: TLS handshake: sslv3", "smtp.tls"},
      {S, F::Auth, 0, 0, "AUTH refused", true, true, true, 535,
       "5.7.8 Error: authentication failed", false, "refused AUTH with the leased credential (535",
       "user database"},
      {S, F::Auth, 0, 0, "AUTH refused", true, true, true, 534, "5.7.9 too weak", false,
       "wants a stronger mechanism", nullptr},
      {S, F::Auth, 0, 0, "no usable AUTH mechanism", true, false, true, 0, "", false,
       "offers no AUTH", "submission port"},
      {S, F::Greeting, 0, 0, "no 220 greeting", false, false, false, 554, "5.3.2 go away", false,
       "did not greet with 220 (554 5.3.2 go away)", "not an SMTP port"},
      {S, F::Closed, 0, 0, "the SMTP server closed the connection", false, false, false, 0, "",
       false, "closed the connection without a word", "greet in plain text"},
      {S, F::Closed, 0, 0, "read: Connection reset by peer", true, false, false, 0, "", false,
       "the connection to mail.example.test:587 broke: read: Connection reset by peer", "log"},
      {S, F::Protocol, 0, 0, "EHLO refused", true, false, false, 550, "5.5.1 no", false,
       "the SMTP session with mail.example.test:587 failed: EHLO refused (550 5.5.1 no)",
       "server's log"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.detail);
    SmtpSettings smtp = starttls587();
    smtp.tls = c.tls;
    smtp.port = c.tls == SmtpTls::Implicit ? 465 : 587;
    SmtpProbeResult s;
    s.failure = c.failure;
    s.os_errno = c.os_errno;
    s.ssl_verify_result = c.verify;
    s.detail = c.detail;
    s.greeted = c.greeted;
    s.auth_offered = c.auth_offered;
    s.auth_tried = c.auth_tried;
    s.reply.code = c.reply_code;
    s.reply.text = c.reply_text;
    const PlainCause f = diagnoseSmtp(s, smtp);
    CHECK(f.ok == c.want_ok);
    CHECK_MESSAGE(has(f.what, c.want), f.what);
    CHECK_MESSAGE(has(f.hint, c.want_hint), f.hint);
    if (!f.ok) {
      CHECK_FALSE(f.hint.empty());
      CHECK(oneLine(f) == f.what + "; " + f.hint);
    }
  }
}

TEST_CASE("tlsVerificationCause: one set of words for any peer") {
  struct Case {
    long verify;
    const char* text;
    const char* want;
  };
  const Case cases[] = {
      {62, "", "does not cover the name vault.test"},
      {64, "", "does not cover the name vault.test"},
      {0, "SSL: no alternative certificate subject name matches target host name",
       "does not cover"},
      {0, "certificate has expired", "has expired"},
      {20, "", "is not signed by a CA in vault.ca_file (/ca.pem)"},
      {19, "", "is not signed by a CA in vault.ca_file"},
      {0, "SSL certificate problem: something", "not trusted by vault.ca_file (/ca.pem): raw"},
      {0, "anything else", "TLS verification failed for Vault at vault.test: raw"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const PlainCause f = tlsVerificationCause(
        c.verify, c.text, TlsPeer{"Vault at vault.test", "vault.test", "vault.ca_file", "/ca.pem"},
        "raw");
    CHECK_FALSE(f.ok);
    CHECK_MESSAGE(has(f.what, c.want), f.what);
    CHECK_FALSE(f.hint.empty());
  }
}

TEST_CASE("the server's text cannot forge lines or placeholders") {
  SmtpProbeResult s;
  s.failure = SmtpProbeResult::Failure::Greeting;
  s.reply.code = 554;
  s.reply.text = std::string(5000, 'x') + "\r\n[ ok ] {host} {port}";
  s.detail = "{other}\nline";
  const PlainCause f = diagnoseSmtp(s, starttls587());
  CHECK(f.what.find('\n') == std::string::npos);
  CHECK(f.what.size() < 600);
  s.reply.text = "5.3.2 {host}";
  const PlainCause g = diagnoseSmtp(s, starttls587());
  CHECK(has(g.what, "(554 5.3.2 {host})"));  // the server's braces stay as they are
}

TEST_CASE("a refused OAuth2 token: its mechanism and the token's causes, not a password's") {
  const struct {
    const char* mechanism;  // the one sent; empty: none of the server's fits a token
    bool auth_offered;
    int code;
    const char* text;
    const char* want;
    const char* want_hint;
  } rows[] = {
      {"XOAUTH2", true, 535, "5.7.8 Username and Password not accepted",
       "XOAUTH2 rejected by the server (535 5.7.8 Username and Password not accepted)",
       "SMTP.SendAsApp"},
      {"OAUTHBEARER", true, 535, "bad\r\ninjected {host}",
       "OAUTHBEARER rejected by the server (535 bad injected {host})", "key directory"},
      {"OAUTHBEARER", true, 534, "5.7.9 too weak", "OAUTHBEARER rejected by the server (534",
       "SMTP.SendAsApp"},
      {"", true, 250, "mail.example.test", "offers neither XOAUTH2 nor OAUTHBEARER",
       "password credential"},
      // A temporary refusal is no verdict on the token: the general words.
      {"OAUTHBEARER", true, 454, "4.7.0 try later", "refused AUTH with the leased credential",
       nullptr},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    SmtpProbeResult s;
    s.failure = SmtpProbeResult::Failure::Auth;
    s.greeted = true;
    s.auth_tried = true;
    s.auth_offered = row.auth_offered;
    s.token_credential = true;
    s.auth_mechanism = row.mechanism;
    s.reply.code = row.code;
    s.reply.text = row.text;
    const PlainCause f = diagnoseSmtp(s, starttls587());
    CHECK_FALSE(f.ok);
    CHECK_MESSAGE(has(f.what, row.want), f.what);
    CHECK_MESSAGE(has(f.hint, row.want_hint), f.hint);
    CHECK(f.what.find('\n') == std::string::npos);
  }
  // The same refusal of a password keeps the password's words.
  SmtpProbeResult password;
  password.failure = SmtpProbeResult::Failure::Auth;
  password.auth_tried = password.auth_offered = true;
  password.auth_mechanism = "PLAIN";
  password.reply.code = 535;
  password.reply.text = "5.7.8 Error: authentication failed";
  CHECK(has(diagnoseSmtp(password, starttls587()).what, "refused AUTH with the leased credential"));
}
