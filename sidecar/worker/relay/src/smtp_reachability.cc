// smtp_reachability.cc: see smtp_reachability.h.
//
// SECURITY: probeSmtp is called without a credential (no AUTH); nothing here reads the
// server's bytes itself.
// ERRORS: timer errors (cancelled at destruction) end the loop; probe failures are
// reported as values.
#include "sidecar/relay/smtp_reachability.h"

#include <algorithm>
#include <utility>

#include "sidecar/relay/asio_smtp_sender.h"

namespace sidecar::relay {

using Clock = ReachabilitySchedule::Clock;

Clock::time_point ReachabilitySchedule::probed(Clock::time_point now, bool reached) {
  if (reached) {
    failures_ = 0;
    last_reached_ = now;
    return now + timing_.recheck;
  }
  ++failures_;
  auto wait = timing_.first_retry;
  for (unsigned i = 1; i < failures_ && wait < timing_.max_retry; ++i) wait *= 2;
  return now + std::min(wait, timing_.max_retry);
}

void ReachabilitySchedule::reached(Clock::time_point now) {
  failures_ = 0;
  last_reached_ = now;
}

std::optional<Clock::time_point> ReachabilitySchedule::deferredUntil(Clock::time_point now) const {
  if (last_reached_ && now < *last_reached_ + timing_.recheck) {
    return *last_reached_ + timing_.recheck;
  }
  return std::nullopt;
}

SmtpReachabilityProbe::SmtpReachabilityProbe(boost::asio::io_context& io, SmtpSettings settings,
                                             std::function<bool()> may_start, Report report,
                                             ReachabilityTiming timing)
    : io_(io),
      settings_(std::move(settings)),
      may_start_(std::move(may_start)),
      report_(std::move(report)),
      timing_(timing),
      schedule_(timing),
      timer_(io),
      alive_(std::make_shared<bool>(true)) {}

SmtpReachabilityProbe::~SmtpReachabilityProbe() {
  *alive_ = false;  // a probe still running reports to no one
  timer_.cancel();
}

void SmtpReachabilityProbe::start() {
  if (started_) return;
  started_ = true;
  arm(Clock::now());
}

void SmtpReachabilityProbe::reached() {
  schedule_.reached(Clock::now());
}

void SmtpReachabilityProbe::arm(Clock::time_point due) {
  timer_.expires_at(due);
  timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    fire();
  });
}

void SmtpReachabilityProbe::fire() {
  const auto now = Clock::now();
  if (!may_start_()) return arm(now + timing_.credential_poll);
  if (const auto later = schedule_.deferredUntil(now)) return arm(*later);
  if (probing_) return;
  probing_ = true;
  ++probes_;
  // No credential: connect, EHLO, TLS, NOOP, QUIT; never AUTH.
  probeSmtp(io_, settings_, nullptr, [this, alive = alive_](SmtpProbeResult result) {
    if (!*alive) return;
    probing_ = false;
    const bool reached = result.failure == SmtpProbeResult::Failure::None;
    const auto next = schedule_.probed(Clock::now(), reached);
    report_(result);
    if (*alive) arm(next);
  });
}

}  // namespace sidecar::relay
