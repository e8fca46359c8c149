// smtp_readiness.cc: see smtp_readiness.h.
//
// SECURITY: only the address, our detail text and the diagnosis' words go into the
// reason.
// ERRORS: none.
#include "sidecar/relay/smtp_readiness.h"

namespace sidecar::relay {

void SmtpReadiness::awaitFirstCheck() {
  set("checking whether the SMTP server " + host_ + ":" + std::to_string(port_) +
      " can be reached (the first check has not finished)");
}

bool SmtpReadiness::set(std::string reason) {
  const bool changed = reason.empty() != reason_.empty();
  reason_ = std::move(reason);
  return changed;
}

bool SmtpReadiness::record(const SendResult& result) {
  const std::string where = host_ + ":" + std::to_string(port_);
  const bool unreachable =
      result.outcome == SendOutcome::TlsFailure ||
      (result.outcome == SendOutcome::TemporaryFailure && result.reply.code == 0);
  if (!unreachable) return set({});
  if (result.detail.empty()) {
    return set(result.outcome == SendOutcome::TlsFailure
                   ? "TLS with the SMTP server " + where +
                         " failed (check smtp.tls and smtp.ca_file)"
                   : "the SMTP server " + where +
                         " did not answer (check smtp.host and smtp.port, and that it is up)");
  }
  // A set-up failure's detail is doctor's words and names the server; a connection that
  // broke later says only what happened.
  if (result.detail.find(where) != std::string::npos) return set(result.detail);
  return set("the SMTP server " + where + ": " + result.detail);
}

bool SmtpReadiness::recordProbe(const SmtpProbeResult& probe, std::string words) {
  // Stricter than a send: a server that refuses EHLO, STARTTLS or NOOP would refuse the
  // mail too.
  if (probe.failure == SmtpProbeResult::Failure::None) return set({});
  return set(std::move(words));
}

}  // namespace sidecar::relay
