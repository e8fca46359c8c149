// smtp_diagnosis.cc: an SMTP session's raw facts -> plain words, as tables of rules
// (first match wins). The words were doctor's (doctor_diagnosis.cc), moved here so that
// doctor and the worker's answers say the same; the table machinery (placeholders,
// matching, printable text) is plain_words.cc, which doctor's Vault tables use too.
//
// SECURITY: pure; the server's reply and the TLS library's text reach a cause only
// through printableLine(), and are filled in last, so a placeholder inside them stays
// as it is. No I/O, no secrets.
// ERRORS: none; an unknown failure gets a generic cause that quotes the raw text.
#include "sidecar/relay/smtp_diagnosis.h"

#include <cerrno>

namespace sidecar::relay {
namespace {

// OpenSSL's X509_V_* codes (kept as numbers: doctor hands in libcurl's
// CURLINFO_SSL_VERIFYRESULT, which are the same values).
constexpr long kX509CertHasExpired = 10;
constexpr long kX509DepthZeroSelfSigned = 18;
constexpr long kX509SelfSignedInChain = 19;
constexpr long kX509NoIssuerLocally = 20;
constexpr long kX509HostnameMismatch = 62;
constexpr long kX509IpAddressMismatch = 64;  // the same, for an address literal
constexpr long kAny = -1;

// Our words are filled first, then the untrusted pieces ({raw}, {reply}): plainFailure().
using Vars = PlainVars;

// ---- TLS verification ----
struct TlsRule {
  long verify_result;         // kAny: any
  std::string_view contains;  // in the TLS library's text; empty: any
  const char* cause;
  const char* hint;
};

constexpr const char* kNameCause =
    "TLS verification failed: the certificate of {peer} does not cover the name {host}";
constexpr const char* kNameHint =
    "connect by a name the certificate lists (its subjectAltName), or have a certificate issued "
    "for {host}";
constexpr const char* kExpiredCause =
    "TLS verification failed: the certificate of {peer} has expired";
constexpr const char* kExpiredHint =
    "renew the server's certificate (and check this machine's clock)";
constexpr const char* kIssuerCause =
    "TLS verification failed: the certificate of {peer} is not signed by a CA in {ca_key} ({ca})";
constexpr const char* kIssuerHint = "set {ca_key} to the CA that issued the server's certificate";

constexpr TlsRule kTlsRules[] = {
    {kX509HostnameMismatch, "", kNameCause, kNameHint},
    {kX509IpAddressMismatch, "", kNameCause, kNameHint},
    {kAny, "subject name", kNameCause, kNameHint},
    {kAny, "does not match target host", kNameCause, kNameHint},
    {kAny, "hostname mismatch", kNameCause, kNameHint},
    {kX509CertHasExpired, "", kExpiredCause, kExpiredHint},
    {kAny, "expired", kExpiredCause, kExpiredHint},
    {kX509NoIssuerLocally, "", kIssuerCause, kIssuerHint},
    {kX509SelfSignedInChain, "", kIssuerCause, kIssuerHint},
    {kX509DepthZeroSelfSigned, "",
     "TLS verification failed: {peer} presents a self-signed certificate that is not in {ca_key} "
     "({ca})",
     kIssuerHint},
    {kAny, "certificate problem",
     "TLS verification failed: the certificate of {peer} is not trusted by {ca_key} ({ca}): {raw}",
     kIssuerHint},
    {kAny, "", "TLS verification failed for {peer}: {raw}",
     "check {ca_key} and the server's certificate"},
};

// ---- SMTP: the session's facts ----
using F = SmtpProbeResult::Failure;

struct SmtpRule {
  F failure;
  int os_errno;               // kAny: any
  int greeted;                // kAny, 0 or 1
  std::string_view contains;  // in our detail; empty: any
  const char* cause;
  const char* hint;
};

constexpr int kEither = -1;

constexpr SmtpRule kSmtpRules[] = {
    {F::Resolve, kAny, kEither, "", "SMTP host {host} does not resolve",
     "check the spelling of smtp.host and this machine's DNS"},
    {F::Connect, ECONNREFUSED, kEither, "",
     "SMTP connection refused at {host}:{port} (nothing listens there, or a firewall rejects it)",
     "check smtp.port; if the port is blocked, try the other submission port: {other}"},
    {F::Connect, ETIMEDOUT, kEither, "", "SMTP connection to {host}:{port} timed out",
     "the port may be blocked by a firewall; try the other submission port: {other}"},
    {F::Connect, kAny, kEither, "", "cannot connect to the SMTP server {host}:{port}: {raw}",
     "the port may be blocked; try the other submission port: {other}"},
    {F::Timeout, kAny, 0, "connection timed out",
     "connecting to the SMTP server {host}:{port} timed out",
     "a firewall may drop packets to that port; try the other submission port: {other}"},
    {F::Timeout, kAny, 0, "",
     "the SMTP server {host}:{port} accepted the connection but sent no greeting within "
     "smtp.timeout_seconds",
     "the port may be blocked or intercepted, or it speaks implicit TLS (465 needs tls = "
     "\"implicit\"); try the other submission port: {other}"},
    {F::Timeout, kAny, 1, "",
     "the SMTP session with {host}:{port} timed out after the greeting{reply}",
     "the server is slow or something in between stalls the connection; raise "
     "smtp.timeout_seconds or try the other submission port: {other}"},
    {F::Tls, kAny, kEither, "smtp.ca_file", "cannot read the CA file smtp.ca_file ({ca}): {raw}",
     "smtp.ca_file must name a readable PEM file"},
    {F::Tls, kAny, kEither, "wrong version number",
     "TLS handshake with {host}:{port} failed: the server does not speak TLS from the first byte",
     "with tls = \"implicit\" use the implicit-TLS port (465); for port 587 use tls = "
     "\"starttls\""},
    {F::Tls, kAny, kEither, "", "TLS handshake with {host}:{port} failed: {raw}",
     "check smtp.tls against the port (587: starttls, 465: implicit)"},
    {F::NoStartTls, kAny, kEither, "",
     "the SMTP server {host}:{port} does not offer STARTTLS: the sidecar never sends a password "
     "without TLS",
     "use a port where the server offers STARTTLS (587), or implicit TLS (465 with tls = "
     "\"implicit\")"},
    {F::StartTlsRefused, kAny, kEither, "", "the SMTP server {host}:{port} refused STARTTLS{reply}",
     "the server's TLS setup is broken (certificate or key missing?): see its log"},
    {F::Greeting, kAny, kEither, "", "the SMTP server {host}:{port} did not greet with 220{reply}",
     "the server refuses connections from here, or this is not an SMTP port"},
    {F::Closed, kAny, 0, "", "the SMTP server {host}:{port} closed the connection without a word",
     "is this an SMTP port? with tls = \"starttls\" the server must greet in plain text"},
    {F::Closed, kAny, 1, "", "the connection to {host}:{port} broke: {raw}",
     "the server or something in between closed it; see the server's log"},
};

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

// A token is refused for other reasons than a password: the words doctor printed for
// it, now the worker's too.
constexpr const char* kTokenRefusedHint =
    "the token was issued but the mail server refused it: Microsoft 365: SMTP AUTH "
    "disabled for the mailbox, no SMTP.SendAsApp permission, or no mailbox permission "
    "for the app's service principal; Google: the mailbox is not the delegated "
    "subject; own stack: the issuer's key is not in Dovecot's key directory, or the "
    "token's login differs from the SASL user";

PlainCause authCause(const SmtpProbeResult& s, Vars ours, Vars theirs) {
  if (s.token_credential && !s.auth_mechanism.empty() && s.reply.code >= 500) {
    const std::string code = std::to_string(s.reply.code);
    const std::string said =
        printableLine(std::string_view(s.reply.text).substr(0, mailformat::kMaxReplyLine));
    return plainFailure("{mechanism} rejected by the server ({code} {said})", kTokenRefusedHint,
                        {{"mechanism", s.auth_mechanism}, {"code", code}}, {{"said", said}});
  }
  if (s.token_credential && s.auth_offered && s.auth_mechanism.empty()) {
    return plainFailure(
        "the SMTP server {host}:{port} offers neither XOAUTH2 nor OAUTHBEARER: an OAuth2 token "
        "cannot log in",
        "use the provider's OAuth2 submission host (smtp.office365.com, smtp.gmail.com), or a "
        "password credential for this server",
        ours, theirs);
  }
  if (s.reply.code == 534 || s.reply.code == 538) {
    return plainFailure(
        "the SMTP server refused AUTH PLAIN{reply}: it wants a stronger mechanism or encryption",
        "the sidecar uses AUTH PLAIN over TLS; allow it on the server's submission port", ours,
        theirs);
  }
  if (!s.auth_offered) {
    return plainFailure(
        "the SMTP server {host}:{port} offers no AUTH{reply}",
        "use the server's submission port (587 or 465), where AUTH is offered over TLS", ours,
        theirs);
  }
  return plainFailure(
      "the SMTP server refused AUTH with the leased credential{reply}",
      "the login Vault leased is not known to the mail server: check that the secrets engine "
      "writes the user database the server reads (and that the lease was not revoked)",
      ours, theirs);
}

}  // namespace

PlainCause tlsVerificationCause(long verify_result, std::string_view error_text,
                                const TlsPeer& peer, std::string_view raw) {
  const Vars ours = {
      {"peer", peer.peer}, {"host", peer.host}, {"ca_key", peer.ca_key}, {"ca", peer.ca}};
  for (const auto& rule : kTlsRules) {
    if (rule.verify_result != kAny && rule.verify_result != verify_result) continue;
    if (!containsNoCase(error_text, rule.contains)) continue;
    return plainFailure(rule.cause, rule.hint, ours, {{"raw", raw}});
  }
  return {};  // unreachable: the last rule matches everything
}

PlainCause diagnoseSmtp(const SmtpProbeResult& s, const SmtpSettings& smtp) {
  const std::string host = printableLine(smtp.host, 200);
  const std::string port = std::to_string(smtp.port);
  const std::string other = otherSubmissionPort(smtp);
  const std::string ca = printableLine(smtp.ca_file, 200);
  const std::string raw = printableLine(s.detail);
  const std::string reply =
      s.reply.code >= 400
          ? " (" + std::to_string(s.reply.code) + " " +
                printableLine(std::string_view(s.reply.text).substr(0, 512), 200) + ")"
          : std::string();
  const Vars ours = {{"host", host}, {"port", port}, {"other", other}, {"ca", ca}};
  const Vars theirs = {{"raw", raw}, {"reply", reply}};

  if (s.failure == F::None) {
    std::string what = "SMTP session with " + host + ":" + port + ": " +
                       (smtp.tls == SmtpTls::None ? "plaintext (tls = none)" : "TLS verified");
    what += s.auth_tried ? ", AUTH accepted, NOOP answered; no mail sent"
                         : ", NOOP answered (AUTH not tried: no credential); no mail sent";
    return PlainCause{true, what, ""};
  }
  if (s.failure == F::Tls && s.ssl_verify_result != 0) {
    const std::string peer = "the SMTP server " + host + ":" + port;
    return tlsVerificationCause(s.ssl_verify_result, s.detail,
                                TlsPeer{peer, host, "smtp.ca_file", ca}, raw);
  }
  if (s.failure == F::Auth) return authCause(s, ours, theirs);
  for (const auto& rule : kSmtpRules) {
    if (rule.failure != s.failure) continue;
    if (rule.os_errno != kAny && rule.os_errno != s.os_errno) continue;
    if (rule.greeted != kEither && rule.greeted != (s.greeted ? 1 : 0)) continue;
    if (!containsNoCase(s.detail, rule.contains)) continue;
    return plainFailure(rule.cause, rule.hint, ours, theirs);
  }
  return plainFailure("the SMTP session with {host}:{port} failed: {raw}{reply}",
                      "see the SMTP server's log", ours, theirs);
}

std::string oneLine(const PlainCause& cause) {
  if (cause.hint.empty()) return cause.what;
  return cause.what + "; " + cause.hint;
}

}  // namespace sidecar::relay
