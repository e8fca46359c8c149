// smtp_readiness.cc: see smtp_readiness.h.
//
// SECURITY: only the address and the sender's detail text go into the reason.
// ERRORS: none.
#include "sidecar/relay/smtp_readiness.h"

namespace sidecar::relay {

bool SmtpReadiness::record(const SendResult& result) {
  const std::string where = host_ + ":" + std::to_string(port_);
  std::string reason;
  if (result.outcome == SendOutcome::TlsFailure) {
    reason = "TLS with the SMTP server " + where + " failed (check smtp.tls and smtp.ca_file)";
  } else if (result.outcome == SendOutcome::TemporaryFailure && result.reply.code == 0) {
    reason = "the SMTP server " + where +
             " did not answer (check smtp.host and smtp.port, and that it is up)";
  }
  if (!reason.empty() && !result.detail.empty()) reason += ": " + result.detail;
  const bool changed = reason.empty() != reason_.empty();
  reason_ = std::move(reason);
  return changed;
}

}  // namespace sidecar::relay
