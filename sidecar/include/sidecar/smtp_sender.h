// smtp_sender.h: sending one message over SMTP with a leased credential.
//
// SECURITY: the credential is handed in for the duration of one send and handed to
// libcurl, whose copies live in memory that is zeroed on free (vault/curl_global.h).
// The server is verified against the configured CA (TLS is required unless the
// operator explicitly allowed plaintext). Server replies are untrusted and go through
// smtp_reply.h; nothing the client sends (AUTH) is ever captured or logged.
// ERRORS: SendResult carries the outcome class and the server's reply.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/config.h"
#include "sidecar/smtp_reply.h"
#include "sidecar/submit_request.h"
#include "vault/secret.h"

namespace sidecar::relay {

struct SmtpCredential {
  vault::SecretBytes username;
  vault::SecretBytes password;
  std::string lease_id;  // not secret: identifies the lease for logs and revocation
};

enum class SendOutcome {
  Accepted,       // the server took the message (2xx after DATA)
  Rejected,       // a 5xx: sending it again will fail the same way
  AuthRefused,    // 535 and friends: the credential is no longer valid
  TemporaryFailure,  // a 4xx, connection refused, timeout: try again later
  TlsFailure,     // the server's certificate did not verify, or TLS could not start
};

const char* toString(SendOutcome outcome) noexcept;

struct SendResult {
  SendOutcome outcome = SendOutcome::TemporaryFailure;
  SmtpReply reply;     // the reply that decided the outcome (code 0 if none)
  std::string detail;  // our own description (libcurl's error), safe to log
  // The server's answer to each RCPT TO, in envelope order. When some recipients are
  // refused and others accepted, the message goes to the accepted ones (Accepted).
  std::vector<RecipientReply> recipients;
};

class SmtpSender {
 public:
  virtual ~SmtpSender() = default;
  // Blocking; safe to call from several threads at once (one connection per call).
  virtual SendResult send(const submit::Envelope& envelope, std::string_view message,
                          const SmtpCredential& credential) = 0;
};

std::unique_ptr<SmtpSender> makeCurlSmtpSender(const SmtpSettings& settings);

}  // namespace sidecar::relay
