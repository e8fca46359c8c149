// dispatcher_reachability.cc: the WorkerDispatcher's view of whether the SMTP server can
// be reached: the reachability probe (relay/smtp_reachability.h) and the sends' outcomes
// feed one SmtpReadiness, which GET /v1/ready and smtp_sidecar_smtp_reachable show.
//
// SECURITY: the probe gets no credential (no AUTH); the reasons are smtp_diagnosis.h's
// words, which hold no secret.
// ERRORS: none; a probe's failure is a reason, the worker keeps serving.
#include "sidecar/base/log.h"
#include "sidecar/relay/smtp_diagnosis.h"
#include "sidecar/worker/dispatcher.h"

namespace sidecar::worker {

void WorkerDispatcher::startReachabilityProbe(const SmtpSettings& smtp) {
  probe_settings_ = smtp;
  smtp_readiness_.awaitFirstCheck();
  metrics_.setSmtpReachable(false);
  reachability_ = std::make_unique<relay::SmtpReachabilityProbe>(
      io_, smtp, [this] { return keeper_.ready(); },
      [this](const relay::SmtpProbeResult& result) { probed(result); });
  reachability_->start();
}

void WorkerDispatcher::probed(const relay::SmtpProbeResult& result) {
  const relay::PlainCause words = relay::diagnoseSmtp(result, probe_settings_);
  metrics_.probed(words.ok);
  const bool changed = smtp_readiness_.recordProbe(result, relay::oneLine(words));
  if (words.ok) {
    if (changed) readinessChanged();
    return;
  }
  // Every failed probe is logged (they back off to one a minute): the operator sees
  // the cause while nothing is sent.
  metrics_.setSmtpReachable(false);
  log::warn("smtp_unreachable", {{"reason", smtp_readiness_.reason()}, {"check", "probe"}});
}

void WorkerDispatcher::recordSendReadiness(const relay::SendResult& sent) {
  const bool changed = smtp_readiness_.record(sent);
  if (smtp_readiness_.ready() && reachability_) reachability_->reached();
  if (changed) readinessChanged();
}

void WorkerDispatcher::readinessChanged() {
  metrics_.setSmtpReachable(smtp_readiness_.ready());
  if (smtp_readiness_.ready()) {
    log::info("smtp_reachable",
              {{"detail", "the SMTP server " + probe_settings_.host + ":" +
                              std::to_string(probe_settings_.port) + " answered"}});
  } else {
    log::warn("smtp_unreachable", {{"reason", smtp_readiness_.reason()}});
  }
}

}  // namespace sidecar::worker
