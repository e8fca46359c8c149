// doctor_diagnosis.cc: raw failures -> plain words, as tables of rules (first match wins).
//
// SECURITY: pure functions over codes and untrusted texts (Vault's errors, libcurl's
// error buffer, SMTP replies); an untrusted text reaches a Finding only through
// printable(). No I/O, no secrets.
// ERRORS: none; an unknown failure gets a generic Finding that quotes the raw text.
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <initializer_list>
#include <utility>

#include "sidecar/doctor/doctor.h"

namespace sidecar::doctor {
namespace {

// OpenSSL's X509_V_* codes libcurl reports as CURLINFO_SSL_VERIFYRESULT (not including
// openssl headers here for four numbers).
constexpr long kX509CertHasExpired = 10;
constexpr long kX509DepthZeroSelfSigned = 18;
constexpr long kX509SelfSignedInChain = 19;
constexpr long kX509NoIssuerLocally = 20;
constexpr long kX509HostnameMismatch = 62;
constexpr long kX509IpAddressMismatch = 64;  // the same, for an address literal
constexpr long kAny = -1;

bool containsNoCase(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  const auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                              [](char a, char b) {
                                return std::tolower(static_cast<unsigned char>(a)) ==
                                       std::tolower(static_cast<unsigned char>(b));
                              });
  return it != haystack.end();
}

using Vars = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// Replaces {name} placeholders. Values are already printable (or ours).
std::string fill(std::string_view text, Vars vars) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '{') {
      const auto end = text.find('}', i);
      if (end != std::string_view::npos) {
        const auto name = text.substr(i + 1, end - i - 1);
        bool found = false;
        for (const auto& [key, value] : vars) {
          if (key == name) {
            out += value;
            found = true;
            break;
          }
        }
        if (found) {
          i = end + 1;
          continue;
        }
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

Finding failure(std::string_view cause, std::string_view hint, Vars vars) {
  return Finding{false, fill(cause, vars), fill(hint, vars)};
}

// A rule's plain words: what is wrong, and what to do.
struct Words {
  const char* cause;
  const char* hint;
};

// ---- TLS verification, shared by Vault and SMTP ----
// `text` is libcurl's error buffer. Rules for CURLE_PEER_FAILED_VERIFICATION and friends.
struct TlsRule {
  long verify_result;         // kAny: any
  std::string_view contains;  // in libcurl's error text; empty: any
  Words words;
};

// Said once, matched by several rules (a verify code, or the text of a TLS library
// that does not report the code).
constexpr Words kCertNameMismatch{
    "TLS verification failed: the certificate of {peer} does not cover the name {host}",
    "connect by a name the certificate lists (its subjectAltName), or have a certificate issued "
    "for {host}"};
constexpr Words kCertExpired{"TLS verification failed: the certificate of {peer} has expired",
                             "renew the server's certificate (and check this machine's clock)"};
constexpr Words kCertIssuerUnknown{
    "TLS verification failed: the certificate of {peer} is not signed by a CA in {ca_key} ({ca})",
    "set {ca_key} to the CA that issued the server's certificate"};

constexpr TlsRule kTlsRules[] = {
    {kX509HostnameMismatch, "", kCertNameMismatch},
    {kX509IpAddressMismatch, "", kCertNameMismatch},
    {kAny, "subject name", kCertNameMismatch},
    {kAny, "does not match target host", kCertNameMismatch},
    {kX509CertHasExpired, "", kCertExpired},
    {kAny, "expired", kCertExpired},
    {kX509NoIssuerLocally, "", kCertIssuerUnknown},
    {kX509SelfSignedInChain, "", kCertIssuerUnknown},
    {kX509DepthZeroSelfSigned,
     "",
     {"TLS verification failed: {peer} presents a self-signed certificate that is not in {ca_key} "
      "({ca})",
      kCertIssuerUnknown.hint}},
    {kAny,
     "certificate problem",
     {"TLS verification failed: the certificate of {peer} is not trusted by {ca_key} ({ca}): {raw}",
      kCertIssuerUnknown.hint}},
    {kAny,
     "",
     {"TLS verification failed for {peer}: {raw}", "check {ca_key} and the server's certificate"}},
};

Finding tlsVerification(const TransportFailure& f, Vars vars, std::string_view raw) {
  for (const auto& rule : kTlsRules) {
    if (rule.verify_result != kAny && rule.verify_result != f.ssl_verify_result) continue;
    if (!containsNoCase(f.curl_error, rule.contains)) continue;
    // {raw} last, so a placeholder inside the server's text is never expanded.
    Finding out;
    out.what = fill(fill(rule.words.cause, vars), {{"raw", raw}});
    out.hint = fill(fill(rule.words.hint, vars), {{"raw", raw}});
    return out;
  }
  return {};  // unreachable: the last rule matches everything
}

// ---- Vault ----
struct CurlRule {
  long curl_code;
  long os_errno;              // kAny: any
  std::string_view contains;  // in libcurl's error text; empty: any
  Words words;
};

// Said once, matched by an errno or, where libcurl did not keep it, by its text.
constexpr Words kVaultRefused{
    "Vault unreachable: connection refused at {address} (nothing listens on that port)",
    "check the port in vault.address and that OpenBao/Vault is running there"};
constexpr Words kVaultNotHttp{
    "{address} answered, but not in HTTP: it is not Vault (another service on that port?)",
    "check the port in vault.address"};
constexpr Words kSmtpRefused{
    "SMTP connection refused at {host}:{port} (nothing listens there, or a firewall rejects it)",
    "check smtp.port; if the port is blocked, try the other submission port: {other}"};
constexpr Words kSmtpBroke{"the connection to {host}:{port} broke: {raw}",
                           "the server or something in between closed it; see the server's log"};

constexpr CurlRule kVaultTransportRules[] = {
    {CURLE_COULDNT_RESOLVE_HOST,
     kAny,
     "",
     {"Vault unreachable: the host name in {address} does not resolve",
      "check the spelling of vault.address and this machine's DNS"}},
    {CURLE_COULDNT_CONNECT, ECONNREFUSED, "", kVaultRefused},
    {CURLE_COULDNT_CONNECT, kAny, "refused", kVaultRefused},
    {CURLE_COULDNT_CONNECT,
     kAny,
     "",
     {"Vault unreachable: cannot connect to {address}: {raw}",
      "check vault.address, routing and firewalls between here and Vault"}},
    {CURLE_OPERATION_TIMEDOUT,
     kAny,
     "",
     {"Vault unreachable: {address} did not answer in time",
      "a firewall may drop the packets, or the address is not Vault's"}},
    {CURLE_SSL_CACERT_BADFILE,
     kAny,
     "",
     {"cannot read the CA file vault.ca_file ({ca})",
      "vault.ca_file must name a readable PEM file"}},
    {CURLE_SSL_CONNECT_ERROR,
     kAny,
     "wrong version number",
     {"TLS handshake with {address} failed: the server does not speak TLS there",
      "use http:// only for a dev server without TLS, or fix the port in vault.address"}},
    {CURLE_SSL_CONNECT_ERROR,
     kAny,
     "",
     {"TLS handshake with {address} failed: {raw}",
      "check that vault.address points at Vault's TLS listener"}},
    {CURLE_UNSUPPORTED_PROTOCOL, kAny, "HTTP/0.9", kVaultNotHttp},
    {CURLE_WEIRD_SERVER_REPLY, kAny, "", kVaultNotHttp},
    {CURLE_UNSUPPORTED_PROTOCOL,
     kAny,
     "",
     {"vault.address {address} has a scheme libcurl cannot use", "use https://host:port"}},
    {CURLE_GOT_NOTHING,
     kAny,
     "",
     {"Vault unreachable: {address} closed the connection without answering",
      "is it an https listener reached with http://, or not Vault at all?"}},
};

// The SMTP side's connect failures differ in hints (the other submission port).
constexpr CurlRule kSmtpTransportRules[] = {
    {CURLE_COULDNT_RESOLVE_HOST,
     kAny,
     "",
     {"SMTP host {host} does not resolve",
      "check the spelling of smtp.host and this machine's DNS"}},
    {CURLE_COULDNT_CONNECT, ECONNREFUSED, "", kSmtpRefused},
    {CURLE_COULDNT_CONNECT,
     ETIMEDOUT,
     "",
     {"SMTP connection to {host}:{port} timed out",
      "the port may be blocked by a firewall; try the other submission port: {other}"}},
    {CURLE_COULDNT_CONNECT, kAny, "refused", kSmtpRefused},
    {CURLE_COULDNT_CONNECT,
     kAny,
     "",
     {"cannot connect to the SMTP server {host}:{port}: {raw}",
      "the port may be blocked; try the other submission port: {other}"}},
    {CURLE_SSL_CACERT_BADFILE,
     kAny,
     "",
     {"cannot read the CA file smtp.ca_file ({ca})", "smtp.ca_file must name a readable PEM file"}},
    {CURLE_USE_SSL_FAILED,
     kAny,
     "not supported",
     {"the SMTP server {host}:{port} does not offer STARTTLS: the sidecar never sends a password "
      "without TLS",
      "use a port where the server offers STARTTLS (587), or implicit TLS (465 with tls = "
      "\"implicit\")"}},
    {CURLE_USE_SSL_FAILED,
     kAny,
     "",
     {"the SMTP server {host}:{port} refused STARTTLS{reply}",
      "the server's TLS setup is broken (certificate or key missing?): see its log"}},
    {CURLE_SSL_CONNECT_ERROR,
     kAny,
     "wrong version number",
     {"TLS handshake with {host}:{port} failed: the server does not speak TLS from the first byte",
      "with tls = \"implicit\" use the implicit-TLS port (465); for port 587 use tls = "
      "\"starttls\""}},
    {CURLE_SSL_CONNECT_ERROR,
     kAny,
     "",
     {"TLS handshake with {host}:{port} failed: {raw}",
      "check smtp.tls against the port (587: starttls, 465: implicit)"}},
    {CURLE_GOT_NOTHING,
     kAny,
     "",
     {"the SMTP server {host}:{port} closed the connection without a word",
      "is this an SMTP port? with tls = \"starttls\" the server must greet in plain text"}},
    {CURLE_RECV_ERROR, kAny, "", kSmtpBroke},
    {CURLE_SEND_ERROR, kAny, "", kSmtpBroke},
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
    Finding out = failure(rule->cause, rule->hint, vars);
    out.what = fill(out.what, {{"errors", errors}, {"status", status}});
    out.hint = fill(out.hint, {{"errors", errors}, {"status", status}});
    return out;
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
    {403, "", "AppRole login denied (HTTP 403): is AppRole enabled at auth/{mount}? ({errors})",
     "check vault.approle_mount (bao auth list)"},
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

std::string otherSubmissionPort(const SmtpSettings& smtp) {
  switch (smtp.tls) {
    case SmtpTls::StartTls:
      return "465 with tls = \"implicit\"";
    case SmtpTls::Implicit:
      return "587 with tls = \"starttls\"";
    case SmtpTls::None:
      return "587 with tls = \"starttls\" or 465 with tls = \"implicit\"";
  }
  return "587 or 465";
}

}  // namespace

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    const bool space = u <= 0x20 || u == 0x7f;
    if (space) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
      continue;
    }
    out.push_back(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > max) {
    out.resize(max > 3 ? max - 3 : 0);
    out += "...";
  }
  return out;
}

Finding vaultTransport(const TransportFailure& f, std::string_view address,
                       std::string_view ca_file) {
  const std::string raw = printable(
      f.curl_error.empty() ? curl_easy_strerror(static_cast<CURLcode>(f.curl_code)) : f.curl_error);
  const std::string addr = printable(address, 200);
  if (isTlsVerification(f.curl_code)) {
    return tlsVerification(f,
                           {{"peer", "Vault at " + addr},
                            {"host", addr},
                            {"ca_key", "vault.ca_file"},
                            {"ca", printable(ca_file, 200)}},
                           raw);
  }
  if (const CurlRule* rule = findCurlRule(kVaultTransportRules, f)) {
    return failure(rule->words.cause, rule->words.hint,
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

Finding smtpSession(const SmtpSession& s, const SmtpSettings& smtp) {
  const std::string host = printable(smtp.host, 200);
  const std::string port = std::to_string(smtp.port);
  const std::string other = otherSubmissionPort(smtp);
  const std::string raw =
      printable(s.transport.curl_error.empty()
                    ? curl_easy_strerror(static_cast<CURLcode>(s.transport.curl_code))
                    : s.transport.curl_error);
  const std::string reply = s.failure_code != 0 ? " (" + std::to_string(s.failure_code) + " " +
                                                      printable(s.failure_text, 200) + ")"
                                                : std::string();
  const std::string ca = printable(smtp.ca_file, 200);  // Vars holds views: named, not temporary
  const Vars vars = {{"host", host}, {"port", port},   {"other", other},
                     {"raw", raw},   {"reply", reply}, {"ca", ca}};
  const long rc = s.transport.curl_code;

  if (rc == CURLE_OK) {
    if (s.auth_tried && !s.auth_accepted) {
      return failure(
          "the SMTP server {host}:{port} did not offer AUTH{reply}: the sidecar's login would not "
          "happen and mail would be refused",
          "use the server's submission port (587 or 465), where AUTH is offered over TLS", vars);
    }
    std::string what = "SMTP session with " + host + ":" + port + ": " +
                       (smtp.tls == SmtpTls::None ? "plaintext (tls = none)" : "TLS verified");
    what += s.auth_tried ? ", AUTH accepted, NOOP answered; no mail sent"
                         : ", NOOP answered (AUTH not tried: no credential); no mail sent";
    return Finding{true, what, ""};
  }
  if (isTlsVerification(rc)) {
    return tlsVerification(s.transport,
                           {{"peer", "the SMTP server " + host + ":" + port},
                            {"host", host},
                            {"ca_key", "smtp.ca_file"},
                            {"ca", printable(smtp.ca_file, 200)}},
                           raw);
  }
  if (rc == CURLE_LOGIN_DENIED ||
      (s.auth_tried && (s.failure_code == 535 || s.failure_code == 534 || s.failure_code == 530 ||
                        s.failure_code == 538))) {
    if (s.failure_code == 534 || s.failure_code == 538) {
      return failure(
          "the SMTP server refused AUTH PLAIN{reply}: it wants a stronger mechanism or encryption",
          "the sidecar uses AUTH PLAIN over TLS; allow it on the server's submission port", vars);
    }
    if (s.auth_tried && !s.auth_offered) {
      return failure(
          "the SMTP server {host}:{port} offers no AUTH{reply}",
          "use the server's submission port (587 or 465), where AUTH is offered over TLS", vars);
    }
    return failure(
        "the SMTP server refused AUTH with the leased credential{reply}",
        "the login Vault leased is not known to the mail server: check that the secrets engine "
        "writes the user database the server reads (and that the lease was not revoked)",
        vars);
  }
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    if (containsNoCase(s.transport.curl_error, "connection timed out")) {
      return failure(
          "connecting to the SMTP server {host}:{port} timed out",
          "a firewall may drop packets to that port; try the other submission port: {other}", vars);
    }
    if (!s.greeted) {
      return failure(
          "the SMTP server {host}:{port} accepted the connection but sent no greeting within "
          "smtp.timeout_seconds",
          "the port may be blocked or intercepted, or it speaks implicit TLS (465 needs tls = "
          "\"implicit\"); try the other submission port: {other}",
          vars);
    }
    return failure("the SMTP session with {host}:{port} timed out after the greeting{reply}",
                   "the server is slow or something in between stalls the connection; raise "
                   "smtp.timeout_seconds or try the other submission port: {other}",
                   vars);
  }
  if (rc == CURLE_WEIRD_SERVER_REPLY && !s.greeted) {
    return failure("the SMTP server {host}:{port} did not greet with 220{reply}",
                   "the server refuses connections from here, or this is not an SMTP port", vars);
  }
  if (const CurlRule* rule = findCurlRule(kSmtpTransportRules, s.transport)) {
    return failure(rule->words.cause, rule->words.hint, vars);
  }
  return failure("the SMTP session with {host}:{port} failed: {raw}{reply}",
                 "see the SMTP server's log", vars);
}

}  // namespace sidecar::doctor
