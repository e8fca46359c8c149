// doctor.h: `smtp-sidecar doctor`: checks a configuration step by step against the real
// Vault/OpenBao and SMTP server and says in plain words what is wrong and what to do.
//
// SECURITY: the diagnosis functions are pure: they turn raw failures (libcurl codes and
// error text, HTTP status plus Vault's `errors` text, SMTP reply codes) into a cause
// and a hint. Vault's and the SMTP server's texts are untrusted: they reach the output
// only through printable() (one line, bounded, no control bytes). No secret ever goes
// into a Finding: the runner hands in codes, texts that never carry secrets (Vault's
// errors, server replies, libcurl's error buffer), paths and addresses.
// The runner (doctor.cc) never consumes a response-wrapped secret_id (it looks the
// wrapping token up instead), never deletes the secret_id file, sends no mail, and
// revokes the lease and token it obtained.
// ERRORS: a Finding is either ok (what was found) or a failure (cause + hint).
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "foundation/secret.h"
#include "sidecar/base/config.h"
#include "sidecar/relay/plain_words.h"

namespace sidecar::doctor {

// One check's outcome: ok and what was found, or the cause and its hint. The type the
// worker's SMTP diagnosis answers with (relay/plain_words.h), so doctor reports the
// worker's words unchanged.
using Finding = relay::PlainCause;

// Untrusted text made fit for one output line (relay::printableLine): control bytes
// become spaces, runs of spaces collapse, at most `max` bytes (cut with "...").
std::string printable(std::string_view text, std::size_t max = 300);

// A libcurl transfer that failed before any answer: CURLcode, the error buffer,
// CURLINFO_SSL_VERIFYRESULT (an X509_V_* code, 0 when none) and CURLINFO_OS_ERRNO (the
// connect error: ECONNREFUSED, ETIMEDOUT, ...; 0 when none).
struct TransportFailure {
  long curl_code = 0;
  std::string curl_error;
  long ssl_verify_result = 0;
  long os_errno = 0;
};

// A Vault answer: HTTP status (0: the request failed in transport; `errors` then holds
// the client's message) and Vault's `errors` text (already one line).
struct VaultAnswer {
  long http_status = 0;
  std::string errors;
};

// ---- Vault ----
// GET sys/health could not be sent or got no answer. `address` and `ca_file` as configured.
Finding vaultTransport(const TransportFailure& failure, std::string_view address,
                       std::string_view ca_file);
// sys/health answered: its status code and body. `parsed` false when the body was not
// a health answer (then the port is probably not Vault).
struct HealthAnswer {
  long http_status = 0;
  bool parsed = false;
  bool initialized = false;
  bool sealed = true;
  bool standby = false;
  std::string version;
};
Finding vaultHealth(const HealthAnswer& health, std::string_view address);

// sys/wrapping/lookup of a wrapped secret_id: the answer, and (on success) the
// creation path it reports, checked against the one this role's secret-id endpoint has.
Finding wrappingLookup(const VaultAnswer& answer, std::string_view creation_path,
                       std::string_view expected_path);

// POST auth/<mount>/login with role_id and secret_id. `role`: vault.approle_role, if set.
Finding approleLogin(const VaultAnswer& answer, std::string_view mount, std::string_view role);

// GET <credential_path>.
Finding credentialLease(const VaultAnswer& answer, std::string_view path);
// The leased secret's fields.
Finding credentialFields(bool has_username, bool has_password, std::string_view path);

// PUT sys/leases/revoke/<lease_id> or auth/token/revoke-self. `what`: "lease <id>" or "token".
Finding revoke(const VaultAnswer& answer, std::string_view what);

// ---- the spool ----
// A generation of the spool set aside because Transit can no longer decrypt its data
// key (sidecar/spool/store.h, SetAside): where, and what it holds.
struct SetAsideGeneration {
  std::string directory;
  std::size_t messages = 0;
  std::size_t finished = 0;
};
// ok when nothing is set aside; a failure naming each generation otherwise (mail in it
// waits for a person: docs/OPERATIONS.md, "The spool's Transit key is lost").
Finding spoolSetAside(std::string_view spool_directory,
                      const std::vector<SetAsideGeneration>& generations);

// ---- SMTP ----
// The SMTP step's words are relay::diagnoseSmtp (sidecar/relay/smtp_diagnosis.h), the
// same the worker answers a failed send with.

// ---- the runner (doctor.cc) ----
// Loads `config_path` and runs every step, one line each on `out`. Returns the exit
// status: 0 when every step passed, 1 otherwise. `secret_id_from_environment`: what
// SMTP_SIDECAR_SECRET_ID held (empty: none), used instead of vault.secret_id_file.
int run(const std::string& config_path, std::ostream& out,
        foundation::SecretBytes secret_id_from_environment = {});

}  // namespace sidecar::doctor
