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

// The SMTP step's words: relay::diagnoseSmtp, tested in
// tests/sidecar/worker/relay/smtp_diagnosis_test.cc (the worker answers sends with them).

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
}

TEST_CASE("spoolSetAside: nothing set aside passes; set-aside mail is named and fails") {
  struct Case {
    std::vector<SetAsideGeneration> generations;
    bool ok;
    const char* want;       // in the finding
    const char* want_hint;  // in the hint
  };
  const Case cases[] = {
      {{}, true, "nothing set aside", nullptr},
      {{{"/var/spool/s/set-aside/0011223344556677", 1, 0}},
       false,
       "1 message (and 0 final statuses) set aside in /var/spool/s/set-aside/0011223344556677",
       "restore the Transit key"},
      {{{"/s/set-aside/aa", 3, 1}, {"/s/set-aside/bb", 4, 2}},
       false,
       "7 messages (and 3 final statuses) set aside in /s/set-aside/aa, /s/set-aside/bb",
       "spool.directory is that directory"},
      // Kept even when empty of messages: their final statuses are in it.
      {{{"/s/set-aside/cc", 0, 1}}, false, "0 messages (and 1 final status)", nullptr},
      // A hostile name cannot forge a line.
      {{{"/s/set-aside/x\nFAKE", 1, 0}}, false, "/s/set-aside/x FAKE", nullptr},
  };
  for (const auto& c : cases) {
    const Finding f = spoolSetAside("/var/spool/s", c.generations);
    CAPTURE(f.what);
    CHECK(f.ok == c.ok);
    CHECK(has(f.what, c.want));
    CHECK(has(f.hint, c.want_hint));
    CHECK(f.what.find('\n') == std::string::npos);
  }
}
