// smtp_readiness.h: whether mail can be sent at all, for GET /v1/ready: judged from the
// sends' outcomes (relay::SendResult) and from the reachability probe's sessions
// (smtp_reachability.h), so /v1/ready knows before the first mail is sent.
//
// SECURITY: the reason is the plain words of smtp_diagnosis.h (or the server's address
// and our detail text), which never hold a credential; it is answered to local peers and
// logged.
// ERRORS: none; a reason is plain text.
#pragma once

#include <cstdint>
#include <string>

#include "sidecar/relay/smtp_probe_result.h"
#include "sidecar/relay/smtp_sender.h"

namespace sidecar::relay {

class SmtpReadiness {
 public:
  SmtpReadiness(std::string host, std::uint16_t port) : host_(std::move(host)), port_(port) {}

  // A probe will run: not ready until it (or a send) has reached the server.
  void awaitFirstCheck();

  // After every attempt. An answer from the server (accepted, refused, 4xx, AUTH
  // refused) shows it can be reached: ready again. No answer at all (connect refused,
  // timed out, no greeting) or a failed TLS check: not ready, with the reason (the
  // send's detail: doctor's words for a connection that failed to set up). Returns
  // true when readiness changed.
  bool record(const SendResult& result);

  // After a probe session: ready when it got through (greeting, EHLO, TLS verified,
  // NOOP); else not ready with `words` (diagnoseSmtp's, one line). Returns true when
  // readiness changed.
  bool recordProbe(const SmtpProbeResult& probe, std::string words);

  bool ready() const { return reason_.empty(); }
  // Empty when ready.
  const std::string& reason() const { return reason_; }

 private:
  bool set(std::string reason);

  std::string host_;
  std::uint16_t port_;
  std::string reason_;
};

}  // namespace sidecar::relay
