// smtp_probe_result.h: the raw facts of one SMTP session's set-up (how far it got, what
// stopped it), as the relay client records them for every connection: for doctor's
// probe, the worker's reachability probe and a send whose connection failed. The one
// diagnosis (smtp_diagnosis.h) turns them into plain words.
//
// SECURITY: data only; `detail` and `reply` hold our own text and the server's
// (untrusted) reply, never a credential.
// ERRORS: none; a value type.
#pragma once

#include <string>

#include "mailformat/smtp_reply.h"

namespace sidecar::relay {

struct SmtpProbeResult {
  enum class Failure {
    None,        // greeted, EHLO, TLS, AUTH (with a credential) and NOOP all answered
    Resolve,     // the host name did not resolve
    Connect,     // TCP connect failed: os_errno
    Timeout,     // no answer within settings.timeout (greeted tells whether one came)
    Tls,         // the handshake failed: ssl_verify_result (X509_V_*), detail
    NoStartTls,  // STARTTLS required but not offered
    StartTlsRefused,
    Greeting,  // no 220
    Auth,      // AUTH refused (reply), or no usable mechanism (auth_offered)
    Closed,    // the server closed the connection
    Protocol,  // any other refusal or an unparseable reply
  };
  Failure failure = Failure::None;
  int os_errno = 0;
  long ssl_verify_result = 0;
  std::string detail;  // our description (OpenSSL's reason for TLS)
  bool greeted = false;
  bool starttls_offered = false;
  bool auth_offered = false;  // AUTH in the EHLO (after TLS when there was TLS)
  bool auth_tried = false;
  bool auth_accepted = false;
  bool token_credential = false;  // the credential tried was an OAuth2 token, not a password
  std::string auth_mechanism;     // the AUTH mechanism sent ("PLAIN", "OAUTHBEARER", ...)
  mailformat::SmtpReply reply;    // the reply that ended it (code 0 if none)
};

}  // namespace sidecar::relay
