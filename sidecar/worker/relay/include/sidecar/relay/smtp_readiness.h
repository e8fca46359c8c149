// smtp_readiness.h: whether mail can be sent at all, as the sends' outcomes show it, for
// GET /v1/ready. Judged only from relay::SendResult (the sender interface), so it holds
// whichever SMTP client sends.
//
// SECURITY: the reason is built from the server's address and the sender's own detail
// text (which never holds a credential); it is answered to local peers and logged.
// ERRORS: none; a reason is plain text.
#pragma once

#include <cstdint>
#include <string>

#include "sidecar/relay/smtp_sender.h"

namespace sidecar::relay {

class SmtpReadiness {
 public:
  SmtpReadiness(std::string host, std::uint16_t port) : host_(std::move(host)), port_(port) {}

  // After every attempt. An answer from the server (accepted, refused, 4xx, AUTH
  // refused) shows it can be reached: ready again. No answer at all (connect refused,
  // timed out, no greeting) or a failed TLS check: not ready, with the reason. Returns
  // true when readiness changed.
  bool record(const SendResult& result);

  bool ready() const { return reason_.empty(); }
  // Empty when ready.
  const std::string& reason() const { return reason_; }

 private:
  std::string host_;
  std::uint16_t port_;
  std::string reason_;
};

}  // namespace sidecar::relay
