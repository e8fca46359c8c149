// doctor_diagnosis.cc: raw failures -> plain words, as tables of rules (first match wins).
//
// SECURITY: pure functions over codes and untrusted texts (Vault's errors, libcurl's
// error buffer, SMTP replies); an untrusted text reaches a Finding only through
// printable(). No I/O, no secrets.
// ERRORS: none; an unknown failure gets a generic Finding that quotes the raw text.
#include <curl/curl.h>

#include <cerrno>
#include <utility>

#include "sidecar/doctor/doctor.h"
#include "sidecar/relay/smtp_diagnosis.h"

namespace sidecar::doctor {
namespace {

constexpr long kAny = -1;

// The table machinery is the worker's (relay/plain_words.h): doctor fills and matches
// its words exactly as the SMTP diagnosis does.
using relay::containsNoCase;
using Vars = relay::PlainVars;

Finding failure(std::string_view cause, std::string_view hint, Vars vars) {
  return relay::plainFailure(cause, hint, vars);
}

// TLS verification has one set of words for Vault and SMTP: relay::tlsVerificationCause.
Finding tlsVerification(const TransportFailure& f, const relay::TlsPeer& peer,
                        std::string_view raw) {
  return relay::tlsVerificationCause(f.ssl_verify_result, f.curl_error, peer, raw);
}

// ---- Vault ----
struct CurlRule {
  long curl_code;
  long os_errno;              // kAny: any
  std::string_view contains;  // in libcurl's error text; empty: any
  const char* cause;
  const char* hint;
};

// Said once, matched by an errno or, where libcurl did not keep it, by its text.
constexpr const char* kVaultRefusedCause =
    "Vault unreachable: connection refused at {address} (nothing listens on that port)";
constexpr const char* kVaultRefusedHint =
    "check the port in vault.address and that OpenBao/Vault is running there";
constexpr const char* kVaultNotHttpCause =
    "{address} answered, but not in HTTP: it is not Vault (another service on that port?)";
constexpr const char* kVaultNotHttpHint = "check the port in vault.address";

constexpr CurlRule kVaultTransportRules[] = {
    {CURLE_COULDNT_RESOLVE_HOST, kAny, "",
     "Vault unreachable: the host name in {address} does not resolve",
     "check the spelling of vault.address and this machine's DNS"},
    {CURLE_COULDNT_CONNECT, ECONNREFUSED, "", kVaultRefusedCause, kVaultRefusedHint},
    {CURLE_COULDNT_CONNECT, kAny, "refused", kVaultRefusedCause, kVaultRefusedHint},
    {CURLE_COULDNT_CONNECT, kAny, "", "Vault unreachable: cannot connect to {address}: {raw}",
     "check vault.address, routing and firewalls between here and Vault"},
    {CURLE_OPERATION_TIMEDOUT, kAny, "", "Vault unreachable: {address} did not answer in time",
     "a firewall may drop the packets, or the address is not Vault's"},
    {CURLE_SSL_CACERT_BADFILE, kAny, "", "cannot read the CA file vault.ca_file ({ca})",
     "vault.ca_file must name a readable PEM file"},
    {CURLE_SSL_CONNECT_ERROR, kAny, "wrong version number",
     "TLS handshake with {address} failed: the server does not speak TLS there",
     "use http:// only for a dev server without TLS, or fix the port in vault.address"},
    {CURLE_SSL_CONNECT_ERROR, kAny, "", "TLS handshake with {address} failed: {raw}",
     "check that vault.address points at Vault's TLS listener"},
    {CURLE_UNSUPPORTED_PROTOCOL, kAny, "HTTP/0.9", kVaultNotHttpCause, kVaultNotHttpHint},
    {CURLE_WEIRD_SERVER_REPLY, kAny, "", kVaultNotHttpCause, kVaultNotHttpHint},
    {CURLE_UNSUPPORTED_PROTOCOL, kAny, "",
     "vault.address {address} has a scheme libcurl cannot use", "use https://host:port"},
    {CURLE_GOT_NOTHING, kAny, "",
     "Vault unreachable: {address} closed the connection without answering",
     "is it an https listener reached with http://, or not Vault at all?"},
};

template <std::size_t N>
const CurlRule* findCurlRule(const CurlRule (&rules)[N], const TransportFailure& f) {
  for (const auto& rule : rules) {
    if (rule.curl_code != f.curl_code) continue;
    if (rule.os_errno != kAny && rule.os_errno != f.os_errno) continue;
    if (containsNoCase(f.curl_error, rule.contains)) return &rule;
  }
  return nullptr;
}

bool isTlsVerification(long curl_code) {
  return curl_code == CURLE_PEER_FAILED_VERIFICATION;
}

// Vault answers: status and a piece of Vault's error text -> cause and hint.
struct AnswerRule {
  long status;                // kAny: any status
  std::string_view contains;  // in Vault's errors; empty: any
  const char* cause;
  const char* hint;
};

Finding matchAnswer(const AnswerRule* begin, const AnswerRule* end, const VaultAnswer& answer,
                    Vars vars) {
  const std::string errors = printable(answer.errors);
  const std::string status = std::to_string(answer.http_status);
  for (const AnswerRule* rule = begin; rule != end; ++rule) {
    if (rule->status != kAny && rule->status != answer.http_status) continue;
    if (!containsNoCase(answer.errors, rule->contains)) continue;
    // Vault's errors are untrusted: filled after our values.
    return relay::plainFailure(rule->cause, rule->hint, vars,
                               {{"errors", errors}, {"status", status}});
  }
  return failure("unexpected answer: HTTP {status}: {errors}", "",
                 {{"status", status}, {"errors", errors}});
}

template <std::size_t N>
Finding matchAnswer(const AnswerRule (&rules)[N], const VaultAnswer& answer, Vars vars) {
  return matchAnswer(rules, rules + N, answer, vars);
}

// Answers any Vault request can get: transport failure after the health check
// passed, a sealed or overloaded server.
constexpr AnswerRule kCommonVaultRules[] = {
    {0, "", "Vault stopped answering: {errors}",
     "check that Vault is up and reachable, then run doctor again"},
    {503, "sealed", "Vault is sealed", "unseal it (bao operator unseal) with the unseal keys"},
    {429, "", "Vault is rate-limiting this client (HTTP 429)",
     "wait and try again; check Vault's rate-limit quotas"},
};

bool isCommon(const VaultAnswer& a) {
  return a.http_status == 0 || (a.http_status == 503 && containsNoCase(a.errors, "sealed")) ||
         a.http_status == 429;
}

constexpr AnswerRule kWrappingRules[] = {
    {400, "not valid or does not exist",
     "the wrapped secret_id in {file} is no longer valid: its wrapping token has expired or was "
     "already unwrapped (it works once)",
     "deliver a new wrapped secret_id (bao write -wrap-ttl=10m -f {expected})"},
    {kAny, "", "looking up the wrapping token in {file} failed: HTTP {status}: {errors}",
     "deliver a new wrapped secret_id (bao write -wrap-ttl=10m -f {expected})"},
};

constexpr AnswerRule kLoginRules[] = {
    // HashiCorp Vault says which half is wrong; OpenBao gives one answer for all four.
    {400, "invalid role or secret id",
     "AppRole refused the login: the role_id is wrong, or the secret_id is wrong, expired or used "
     "up (OpenBao gives the same answer for each of these)",
     "check that vault.role_id_file holds this role's role_id (bao read "
     "auth/{mount}/role/{role}/role-id), then issue a new secret_id (bao write -f "
     "auth/{mount}/role/{role}/secret-id)"},
    {400, "invalid role id",
     "AppRole refused the login: the role_id in vault.role_id_file is not a role_id of "
     "auth/{mount}",
     "read the right one: bao read auth/{mount}/role/{role}/role-id"},
    {400, "invalid secret id",
     "AppRole refused the login: the secret_id is wrong, expired or used up (its num_uses are "
     "spent, or its TTL passed)",
     "issue a new secret_id: bao write -f auth/{mount}/role/{role}/secret-id"},
    {400, "CIDR restrictions on the secret ID",
     "AppRole refused the login: this machine's address ({source}) is outside the CIDR blocks the "
     "secret_id is bound to (cidr_list)",
     "issue a secret_id whose cidr_list includes this host, or run the sidecar from an allowed "
     "address"},
    {400, "CIDR restrictions on the role",
     "AppRole refused the login: this machine's address ({source}) is outside the role's "
     "secret_id_bound_cidrs",
     "add this host's address to the role's secret_id_bound_cidrs, or run the sidecar from an "
     "allowed address"},
    {400, "missing", "AppRole refused the login: {errors}",
     "vault.role_id_file and vault.secret_id_file must each hold one value"},
    // OpenBao's user lockout answers every login of a locked role_id (the right
    // secret_id too) with 403 "permission denied" after 5 failed ones (issue 14).
    {403, "",
     "AppRole login denied (HTTP 403): the role_id is locked out (OpenBao's user "
     "lockout, after failed logins: every instance is refused until the lockout ends), or "
     "AppRole is not enabled at auth/{mount} ({errors})",
     "wait for the lockout to end (lockout_duration, 15 min by default) or unlock it: bao list "
     "sys/locked-users, bao write -f sys/locked-users/<mount accessor>/unlock/<role_id>; "
     "otherwise check vault.approle_mount (bao auth list)"},
    {404, "", "no auth method at auth/{mount} (HTTP 404)",
     "check vault.approle_mount (bao auth list)"},
    {kAny, "", "AppRole login failed: HTTP {status}: {errors}", "see Vault's log"},
};

constexpr AnswerRule kLeaseRules[] = {
    {403, "permission denied",
     "reading {path} was denied: the AppRole token's policy does not allow read on {path}",
     "grant it in the role's policy: path \"{path}\" { capabilities = [\"read\"] }, or fix "
     "vault.credential_path"},
    {403, "", "reading {path} was denied (HTTP 403): {errors}",
     "check the AppRole token's policies"},
    {404, "", "nothing at {path} (HTTP 404): no secrets engine or role answers there",
     "check vault.credential_path and that the secrets engine and its role exist (bao secrets "
     "list)"},
    {kAny, "no handler for route", "nothing at {path}: no secrets engine is mounted there",
     "check vault.credential_path and the mounts (bao secrets list)"},
    {kAny, "unknown role", "the secrets engine has no role for {path}: {errors}",
     "create the role, or fix vault.credential_path"},
    {kAny, "unsupported path", "{path} is not a path the secrets engine serves: {errors}",
     "check vault.credential_path (it is <mount>/creds/<role>)"},
    {kAny, "", "leasing {path} failed: HTTP {status}: {errors}",
     "the secrets engine could not mint a login (its database or backend may be down): see Vault's "
     "log"},
};

constexpr AnswerRule kRevokeRules[] = {
    {403, "",
     "revoking the {what} was denied: the policy does not allow it; it stays valid until its TTL "
     "ends",
     "grant update on sys/leases/revoke/<credential_path>/* and auth/token/revoke-self in the "
     "role's policy"},
    {kAny, "",
     "revoking the {what} failed: HTTP {status}: {errors}; it stays valid until its TTL ends",
     "revoke it by hand (bao lease revoke / bao token revoke -accessor)"},
};

// "source address \"10.1.2.3\" unauthorized ..." -> 10.1.2.3 (or "?").
std::string sourceAddress(std::string_view errors) {
  constexpr std::string_view kKey = "source address \"";
  const auto at = errors.find(kKey);
  if (at == std::string_view::npos) return "?";
  const auto from = at + kKey.size();
  const auto end = errors.find('"', from);
  if (end == std::string_view::npos || end - from > 64) return "?";
  return printable(errors.substr(from, end - from), 64);
}

}  // namespace

std::string printable(std::string_view text, std::size_t max) {
  return relay::printableLine(text, max);
}

Finding vaultTransport(const TransportFailure& f, std::string_view address,
                       std::string_view ca_file) {
  const std::string raw = printable(
      f.curl_error.empty() ? curl_easy_strerror(static_cast<CURLcode>(f.curl_code)) : f.curl_error);
  const std::string addr = printable(address, 200);
  if (isTlsVerification(f.curl_code)) {
    const std::string peer = "Vault at " + addr;
    const std::string ca = printable(ca_file, 200);
    return tlsVerification(f, relay::TlsPeer{peer, addr, "vault.ca_file", ca}, raw);
  }
  if (const CurlRule* rule = findCurlRule(kVaultTransportRules, f)) {
    return failure(rule->cause, rule->hint,
                   {{"address", addr}, {"raw", raw}, {"ca", printable(ca_file, 200)}});
  }
  return failure("Vault unreachable at {address}: {raw}", "check vault.address and vault.ca_file",
                 {{"address", addr}, {"raw", raw}});
}

Finding vaultHealth(const HealthAnswer& h, std::string_view address) {
  const std::string addr = printable(address, 200);
  const std::string version = printable(h.version, 40);
  if (!h.parsed) {
    return failure(
        "{address} answered HTTP {status}, but not as Vault/OpenBao (no sys/health answer)",
        "check the host and port in vault.address",
        {{"address", addr}, {"status", std::to_string(h.http_status)}});
  }
  if (!h.initialized) {
    return failure("Vault at {address} is not initialized",
                   "initialize it (bao operator init) and unseal it", {{"address", addr}});
  }
  if (h.sealed) {
    return failure("Vault at {address} is sealed: it answers nothing until unsealed",
                   "unseal it: bao operator unseal (with the unseal keys), or check auto-unseal",
                   {{"address", addr}});
  }
  Finding ok{true,
             "Vault at " + addr + " is " +
                 (h.standby ? "a standby (requests are forwarded)" : "active") +
                 ", initialized, unsealed" + (version.empty() ? "" : ", version " + version),
             ""};
  return ok;
}

Finding wrappingLookup(const VaultAnswer& answer, std::string_view creation_path,
                       std::string_view expected_path) {
  const std::string expected = printable(expected_path, 200);
  if (answer.http_status == 200) {
    const std::string found = printable(creation_path, 200);
    if (creation_path != expected_path) {
      return failure(
          "the wrapping token in vault.secret_id_file wraps {found}, not {expected}: it was not "
          "made by this role's secret-id endpoint (it may be forged); the sidecar will refuse it",
          "deliver a wrapped secret_id from {expected}",
          {{"found", found.empty() ? "?" : found}, {"expected", expected}});
    }
    return Finding{
        true,
        "the wrapped secret_id is valid and wraps " + expected + " (looked up, not unwrapped)", ""};
  }
  if (isCommon(answer)) return matchAnswer(kCommonVaultRules, answer, {});
  return matchAnswer(kWrappingRules, answer,
                     {{"file", "vault.secret_id_file"}, {"expected", expected}});
}

Finding approleLogin(const VaultAnswer& answer, std::string_view mount, std::string_view role) {
  if (answer.http_status == 200) return Finding{true, "AppRole login accepted", ""};
  if (isCommon(answer)) return matchAnswer(kCommonVaultRules, answer, {});
  const std::string source = sourceAddress(answer.errors);
  const std::string role_name = role.empty() ? "<role>" : printable(role, 100);
  return matchAnswer(kLoginRules, answer,
                     {{"mount", printable(mount, 100)}, {"source", source}, {"role", role_name}});
}

Finding credentialLease(const VaultAnswer& answer, std::string_view path) {
  if (answer.http_status == 200) return Finding{true, "leased " + printable(path, 200), ""};
  if (isCommon(answer)) return matchAnswer(kCommonVaultRules, answer, {});
  return matchAnswer(kLeaseRules, answer, {{"path", printable(path, 200)}});
}

Finding credentialFields(bool has_username, bool has_password, std::string_view path) {
  if (has_username && has_password)
    return Finding{true, "the secret has a username and a password", ""};
  const char* missing = !has_username && !has_password ? "username and password"
                        : !has_username                ? "username"
                                                       : "password";
  return failure(
      "the secret at {path} has no {missing} field (or it is empty): it is not an SMTP login",
      "vault.credential_path must name a secrets engine role that returns username and password",
      {{"path", printable(path, 200)}, {"missing", missing}});
}

Finding revoke(const VaultAnswer& answer, std::string_view what) {
  if (answer.http_status >= 200 && answer.http_status < 300) {
    return Finding{true, "revoked the " + printable(what, 200), ""};
  }
  if (isCommon(answer)) return matchAnswer(kCommonVaultRules, answer, {});
  return matchAnswer(kRevokeRules, answer, {{"what", printable(what, 200)}});
}

Finding spoolSetAside(std::string_view spool_directory,
                      const std::vector<SetAsideGeneration>& generations) {
  std::size_t messages = 0;
  std::size_t finished = 0;
  std::string where;
  for (const auto& g : generations) {
    messages += g.messages;
    finished += g.finished;
    if (where.size() < 600) where += (where.empty() ? "" : ", ") + printable(g.directory, 300);
  }
  if (generations.empty()) {
    return Finding{true, "spool " + printable(spool_directory, 300) + ": nothing set aside", ""};
  }
  return Finding{
      false,
      std::to_string(messages) + (messages == 1 ? " message" : " messages") + " (and " +
          std::to_string(finished) + " final " + (finished == 1 ? "status" : "statuses") +
          ") set aside in " + where +
          ": Transit can no longer decrypt the data key they are sealed under (the key was "
          "deleted, or Vault lost its state or is another one); they are kept, not sent",
      "restore the Transit key (from a transit/backup, or the old Vault), check that "
      "transit/decrypt opens the datakey file there, then send them with a sidecar whose "
      "spool.directory is that directory (docs/OPERATIONS.md, \"The spool's Transit key is "
      "lost\"); or, if they are given up, move the directory away"};
}

}  // namespace sidecar::doctor
