// doctor_diagnosis_test.cc: raw failures -> plain-words diagnosis, case by case. The
// raw inputs are what libcurl 7.88 and OpenBao 2.x really produce (the e2e test
// tests/e2e/test_doctor.py drives the same failures against the real servers).
#include <curl/curl.h>
#include <doctest/doctest.h>

#include <cerrno>

#include "sidecar/doctor/doctor.h"

using namespace sidecar;
using namespace sidecar::doctor;

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

TEST_CASE("vaultTransport: libcurl failures before any answer") {
  struct Case {
    long curl_code;
    long os_errno;
    long verify;
    const char* curl_error;
    const char* want;       // in the cause
    const char* want_hint;  // in the hint
  };
  const Case cases[] = {
      {CURLE_COULDNT_RESOLVE_HOST, 0, 0, "Could not resolve host: vault.invalid",
       "does not resolve", "DNS"},
      {CURLE_COULDNT_CONNECT, ECONNREFUSED, 0,
       "Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server",
       "connection refused", "is running"},
      {CURLE_COULDNT_CONNECT, 0, 0, "Failed to connect to x port 1: Connection refused",
       "connection refused", nullptr},
      {CURLE_COULDNT_CONNECT, EHOSTUNREACH, 0, "Failed to connect: No route to host",
       "cannot connect", "firewalls"},
      {CURLE_OPERATION_TIMEDOUT, 0, 0, "Connection timed out after 5001 milliseconds",
       "did not answer in time", "firewall"},
      {CURLE_PEER_FAILED_VERIFICATION, 0, 20,
       "SSL certificate problem: unable to get local issuer certificate",
       "not signed by a CA in vault.ca_file", "vault.ca_file"},
      {CURLE_PEER_FAILED_VERIFICATION, 0, 19,
       "SSL certificate problem: self-signed certificate in certificate chain",
       "not signed by a CA in vault.ca_file", nullptr},
      {CURLE_PEER_FAILED_VERIFICATION, 0, 0,
       "SSL: no alternative certificate subject name matches target host name 'vm'",
       "does not cover the name", "subjectAltName"},
      {CURLE_PEER_FAILED_VERIFICATION, 0, 62, "", "does not cover the name", nullptr},
      {CURLE_PEER_FAILED_VERIFICATION, 0, 10, "SSL certificate problem: certificate has expired",
       "has expired", "clock"},
      {CURLE_PEER_FAILED_VERIFICATION, 0, 0, "SSL certificate problem: something new",
       "not trusted by vault.ca_file", nullptr},
      {CURLE_SSL_CONNECT_ERROR, 0, 0, "error:0A00010B:SSL routines::wrong version number",
       "does not speak TLS", "http://"},
      {CURLE_SSL_CACERT_BADFILE, 0, 0, "error setting certificate file: /nope",
       "cannot read the CA file vault.ca_file (/etc/vault-ca.pem)", nullptr},
      {CURLE_GOT_NOTHING, 0, 0, "Empty reply from server", "closed the connection", nullptr},
      {CURLE_UNSUPPORTED_PROTOCOL, 0, 0, "Received HTTP/0.9 when not allowed",
       "not in HTTP: it is not Vault", "port"},
      {CURLE_UNSUPPORTED_PROTOCOL, 0, 0, "Protocol \"ftp\" not supported", "scheme", "https://"},
      {CURLE_SEND_ERROR, 0, 0, "Send failure: Broken pipe", "Vault unreachable", "vault.address"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.curl_error);
    const Finding f =
        vaultTransport(TransportFailure{c.curl_code, c.curl_error, c.verify, c.os_errno},
                       "https://vault.example.test:8200", "/etc/vault-ca.pem");
    CHECK_FALSE(f.ok);
    CHECK_MESSAGE(has(f.what, c.want), f.what);
    CHECK_MESSAGE(has(f.hint, c.want_hint), f.hint);
    CHECK_FALSE(f.hint.empty());
  }
}

TEST_CASE("vaultHealth: states of the node") {
  struct Case {
    long status;
    bool parsed, initialized, sealed, standby;
    bool want_ok;
    const char* want;
  };
  const Case cases[] = {
      {200, true, true, false, false, true, "is active"},
      {429, true, true, false, true, true, "standby"},
      {503, true, true, true, false, false, "is sealed"},
      {501, true, false, true, false, false, "not initialized"},
      {400, false, false, true, false, false, "not as Vault"},
      {404, false, false, true, false, false, "HTTP 404"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.status);
    HealthAnswer h{c.status, c.parsed, c.initialized, c.sealed, c.standby, "2.7.2"};
    const Finding f = vaultHealth(h, "https://v:8200");
    CHECK(f.ok == c.want_ok);
    CHECK_MESSAGE(has(f.what, c.want), f.what);
    if (!f.ok) CHECK_FALSE(f.hint.empty());
  }
}

TEST_CASE("approleLogin: Vault's answers in plain words") {
  struct Case {
    long status;
    const char* errors;
    bool want_ok;
    const char* want;
    const char* want_hint;
  };
  const Case cases[] = {
      {200, "", true, "accepted", nullptr},
      // OpenBao: one text for a wrong role_id, a wrong, expired or used-up secret_id.
      {400, "invalid role or secret ID", false,
       "role_id is wrong, or the secret_id is wrong, expired or used up",
       "auth/approle/role/example-app/secret-id"},
      // HashiCorp Vault's separate texts.
      {400, "invalid role ID", false, "role_id in vault.role_id_file", "role-id"},
      {400, "invalid secret id", false, "expired or used up", "secret-id"},
      {400, "source address \"127.0.0.1\" unauthorized through CIDR restrictions on the secret ID",
       false, "address (127.0.0.1) is outside the CIDR blocks the secret_id is bound to",
       "cidr_list"},
      {400,
       "source address \"127.0.0.1\" unauthorized by CIDR restrictions on the role: %!w(<nil>)",
       false, "address (127.0.0.1) is outside the role's secret_id_bound_cidrs",
       "secret_id_bound_cidrs"},
      {400, "unauthorized through CIDR restrictions on the secret ID", false, "address (?)",
       nullptr},
      {400, "missing secret_id", false, "missing secret_id", nullptr},
      {403, "permission denied", false, "AppRole is not enabled at auth/approle", "approle_mount"},
      // OpenBao's user lockout (issue 14): named, with how to end it.
      {403, "permission denied", false, "the role_id is locked out", "sys/locked-users"},
      {503, "Vault is sealed", false, "Vault is sealed", "unseal"},
      {429, "", false, "rate-limiting", nullptr},
      {0, "vault request /v1/auth/approle/login failed: Connection refused", false,
       "stopped answering", nullptr},
      {500, "internal error", false, "HTTP 500: internal error", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.errors);
    const Finding f = approleLogin(VaultAnswer{c.status, c.errors}, "approle", "example-app");
    CHECK(f.ok == c.want_ok);
    CHECK_MESSAGE(has(f.what, c.want), f.what);
    CHECK_MESSAGE(has(f.hint, c.want_hint), f.hint);
  }
  // Without vault.approle_role the hint names a placeholder.
  CHECK(has(approleLogin(VaultAnswer{400, "invalid role or secret ID"}, "approle", "").hint,
            "auth/approle/role/<role>/role-id"));
}

TEST_CASE("wrappingLookup: valid, used or expired, forged") {
  const char* expected = "auth/approle/role/app/secret-id";
  struct Case {
    long status;
    const char* errors;
    const char* creation_path;
    bool want_ok;
    const char* want;
  };
  const Case cases[] = {
      {200, "", "auth/approle/role/app/secret-id", true, "valid"},
      {200, "", "sys/wrapping/wrap", false,
       "wraps sys/wrapping/wrap, not auth/approle/role/app/secret-id"},
      {200, "", "", false, "wraps ?"},
      {400, "wrapping token is not valid or does not exist", "", false,
       "expired or was already unwrapped"},
      {403, "permission denied", "", false, "HTTP 403"},
      {0, "connection reset", "", false, "stopped answering"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.errors);
    const Finding f = wrappingLookup(VaultAnswer{c.status, c.errors}, c.creation_path, expected);
    CHECK(f.ok == c.want_ok);
    CHECK_MESSAGE(has(f.what, c.want), f.what);
  }
}

TEST_CASE("credentialLease and credentialFields") {
  struct Case {
    long status;
    const char* errors;
    bool want_ok;
    const char* want;
    const char* want_hint;
  };
  const Case cases[] = {
      {200, "", true, "leased smtp/creds/app", nullptr},
      {403, "permission denied", false, "policy does not allow read on smtp/creds/app",
       "path \"smtp/creds/app\" { capabilities = [\"read\"] }"},
      {403, "2 errors occurred: permission denied", false, "policy does not allow read", nullptr},
      {404, "", false, "nothing at smtp/creds/app", "bao secrets list"},
      {405, "1 error occurred: * unsupported path", false, "not a path the secrets engine serves",
       nullptr},
      {400, "unknown role: app", false, "has no role", nullptr},
      {500, "1 error occurred: connection to database refused", false,
       "leasing smtp/creds/app failed: HTTP 500: 1 error occurred: connection to database refused",
       "backend"},
      {503, "error performing token check: Vault is sealed", false, "Vault is sealed", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.errors);
    const Finding f = credentialLease(VaultAnswer{c.status, c.errors}, "smtp/creds/app");
    CHECK(f.ok == c.want_ok);
    CHECK_MESSAGE(has(f.what, c.want), f.what);
    CHECK_MESSAGE(has(f.hint, c.want_hint), f.hint);
  }
  CHECK(credentialFields(true, true, "p").ok);
  CHECK(has(credentialFields(false, true, "p").what, "no username field"));
  CHECK(has(credentialFields(true, false, "p").what, "no password field"));
  CHECK(has(credentialFields(false, false, "p").what, "no username and password field"));
}

TEST_CASE("revoke") {
  CHECK(revoke(VaultAnswer{204, ""}, "token").ok);
  const Finding denied = revoke(VaultAnswer{403, "permission denied"}, "lease smtp/creds/app/x");
  CHECK_FALSE(denied.ok);
  CHECK(has(denied.what, "revoking the lease smtp/creds/app/x was denied"));
  CHECK(has(denied.hint, "sys/leases/revoke"));
  CHECK(has(revoke(VaultAnswer{0, "timeout"}, "token").what, "stopped answering"));
  CHECK(has(revoke(VaultAnswer{400, "invalid lease ID"}, "lease x").what,
            "stays valid until its TTL"));
}

TEST_CASE("smtpSession: connection, TLS and AUTH failures") {
  struct Case {
    SmtpTls tls;
    long curl_code;
    long os_errno;
    long verify;
    const char* curl_error;
    bool greeted, starttls, auth_offered, auth_tried, auth_accepted;
    int reply_code;
    const char* reply_text;
    bool want_ok;
    const char* want;
    const char* want_hint;
  };
  const SmtpTls S = SmtpTls::StartTls, I = SmtpTls::Implicit;
  const Case cases[] = {
      {S, CURLE_OK, 0, 0, "", true, true, true, true, true, 0, "", true,
       "AUTH accepted, NOOP answered", nullptr},
      {S, CURLE_OK, 0, 0, "", true, true, false, false, false, 0, "", true, "AUTH not tried",
       nullptr},
      // libcurl skips AUTH when the server offers none: not a pass.
      {S, CURLE_OK, 0, 0, "", true, true, false, true, false, 0, "", false, "did not offer AUTH",
       "submission port"},
      {S, CURLE_COULDNT_RESOLVE_HOST, 0, 0, "Could not resolve host: mail.invalid", false, false,
       false, true, false, 0, "", false, "mail.example.test does not resolve", "smtp.host"},
      {S, CURLE_COULDNT_CONNECT, ECONNREFUSED, 0, "Couldn't connect to server", false, false, false,
       true, false, 0, "", false, "connection refused at mail.example.test:587",
       "465 with tls = \"implicit\""},
      {I, CURLE_COULDNT_CONNECT, ECONNREFUSED, 0, "Couldn't connect to server", false, false, false,
       true, false, 0, "", false, "connection refused", "587 with tls = \"starttls\""},
      {S, CURLE_COULDNT_CONNECT, ETIMEDOUT, 0, "Connection timed out", false, false, false, true,
       false, 0, "", false, "timed out", "blocked"},
      {S, CURLE_OPERATION_TIMEDOUT, 0, 0, "Connection timed out after 10001 milliseconds", false,
       false, false, true, false, 0, "", false,
       "connecting to the SMTP server mail.example.test:587 timed out", "465"},
      {S, CURLE_OPERATION_TIMEDOUT, 0, 0,
       "Operation timed out after 2000 milliseconds with 0 bytes received", false, false, false,
       true, false, 0, "", false, "sent no greeting", "blocked"},
      {S, CURLE_OPERATION_TIMEDOUT, 0, 0,
       "Operation timed out after 2000 milliseconds with 40 bytes received", true, true, true, true,
       false, 0, "", false, "timed out after the greeting", "timeout_seconds"},
      {S, CURLE_USE_SSL_FAILED, 0, 0, "STARTTLS not supported.", true, false, true, true, false, 0,
       "", false, "does not offer STARTTLS", "587"},
      {S, CURLE_USE_SSL_FAILED, 0, 0, "STARTTLS denied, code 454", true, true, true, true, false,
       454, "4.7.0 TLS not available", false, "refused STARTTLS (454 4.7.0 TLS not available)",
       "log"},
      {S, CURLE_PEER_FAILED_VERIFICATION, 0, 0,
       "SSL: no alternative certificate subject name matches target host name 'mail.example.test'",
       true, true, false, true, false, 0, "", false, "does not cover the name mail.example.test",
       "subjectAltName"},
      {S, CURLE_PEER_FAILED_VERIFICATION, 0, 20,
       "SSL certificate problem: unable to get local issuer certificate", true, true, false, true,
       false, 0, "", false, "not signed by a CA in smtp.ca_file (/etc/ca.pem)", "smtp.ca_file"},
      {I, CURLE_SSL_CONNECT_ERROR, 0, 0, "error:0A00010B:SSL routines::wrong version number", false,
       false, false, true, false, 0, "", false, "does not speak TLS from the first byte",
       "starttls"},
      {S, CURLE_LOGIN_DENIED, 0, 0, "Login denied", true, true, true, true, false, 535,
       "5.7.8 Error: authentication failed", false, "refused AUTH with the leased credential (535",
       "user database"},
      {S, CURLE_LOGIN_DENIED, 0, 0, "Login denied", true, true, true, true, false, 534,
       "5.7.9 too weak", false, "wants a stronger mechanism", nullptr},
      {S, CURLE_LOGIN_DENIED, 0, 0, "Login denied", true, true, false, true, false, 0, "", false,
       "offers no AUTH", nullptr},
      {S, CURLE_WEIRD_SERVER_REPLY, 0, 0, "Got unexpected smtp-server response: 554", false, false,
       false, true, false, 554, "5.3.2 go away", false,
       "did not greet with 220 (554 5.3.2 go away)", nullptr},
      {S, CURLE_GOT_NOTHING, 0, 0, "Server returned nothing", false, false, false, true, false, 0,
       "", false, "closed the connection", nullptr},
      {S, CURLE_RECV_ERROR, 0, 0, "Recv failure: Connection reset by peer", true, false, false,
       true, false, 0, "", false, "broke", nullptr},
      {S, CURLE_SSL_CACERT_BADFILE, 0, 0, "error setting certificate file", false, false, false,
       true, false, 0, "", false, "cannot read the CA file smtp.ca_file (/etc/ca.pem)", nullptr},
      {S, CURLE_FAILED_INIT, 0, 0, "libcurl refused option CAINFO", false, false, false, true,
       false, 0, "", false, "libcurl refused option CAINFO", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.curl_error);
    SmtpSettings smtp = starttls587();
    smtp.tls = c.tls;
    smtp.port = c.tls == SmtpTls::Implicit ? 465 : 587;
    SmtpSession s;
    s.transport = TransportFailure{c.curl_code, c.curl_error, c.verify, c.os_errno};
    s.greeted = c.greeted;
    s.starttls_offered = c.starttls;
    s.auth_offered = c.auth_offered;
    s.auth_tried = c.auth_tried;
    s.auth_accepted = c.auth_accepted;
    s.failure_code = c.reply_code;
    s.failure_text = c.reply_text;
    const Finding f = smtpSession(s, smtp);
    CHECK(f.ok == c.want_ok);
    CHECK_MESSAGE(has(f.what, c.want), f.what);
    CHECK_MESSAGE(has(f.hint, c.want_hint), f.hint);
    if (!f.ok) CHECK_FALSE(f.hint.empty());
  }
}

TEST_CASE("printable: untrusted text on one bounded line") {
  struct Case {
    std::string in;
    std::size_t max;
    std::string want;
  };
  const Case cases[] = {
      {"plain", 300, "plain"},
      {"two\r\nlines\n\tand tabs  ", 300, "two lines and tabs"},
      {std::string("nul\0byte", 8), 300, "nul byte"},
      {"\x1b[31mred\x1b[0m", 300, "[31mred [0m"},
      {"abcdefghij", 8, "abcde..."},
      {"", 300, ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK(printable(c.in, c.max) == c.want);
  }
}

TEST_CASE("Vault's and the server's texts cannot forge lines or placeholders") {
  const Finding f =
      credentialLease(VaultAnswer{500, "boom\n[ ok ] smtp: fine {path}"}, "smtp/creds/app");
  CHECK(f.what.find('\n') == std::string::npos);
  CHECK(has(f.what, "{path}"));  // not expanded: placeholders are filled once, in order
  SmtpSession s;
  s.transport = TransportFailure{CURLE_LOGIN_DENIED, "Login denied", 0, 0};
  s.auth_tried = s.auth_offered = s.greeted = true;
  s.failure_code = 535;
  s.failure_text = std::string(5000, 'x') + "\r\n[ ok ]";
  const Finding g = smtpSession(s, starttls587());
  CHECK(g.what.find('\n') == std::string::npos);
  CHECK(g.what.size() < 600);
}
