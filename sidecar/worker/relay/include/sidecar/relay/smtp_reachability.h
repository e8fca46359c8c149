// smtp_reachability.h: the worker's reachability probe. Once the first credential is
// there, and again while no send has reached the SMTP server recently, it runs one
// session without mail and without AUTH (connect, EHLO, STARTTLS or implicit TLS with
// the certificate verified exactly as for sending, NOOP, QUIT) with the relay's own
// client (probeSmtp), so /v1/ready says why mail cannot be sent before any is sent.
// Bounded: one probe at a time, failed probes back off (2 s doubling to 60 s), a
// reachable server is checked again every 60 s only when no send reached it meanwhile.
//
// SECURITY: no credential is given to the probe: it never sends AUTH, so it cannot
// lock out or spam the login; the server's replies go through the relay client's
// parsers like any other session.
// ERRORS: a probe's failure is a value (SmtpProbeResult) handed to the report callback;
// nothing throws out of the timer or the probe's handlers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sidecar/base/config.h"
#include "sidecar/relay/smtp_probe_result.h"

namespace sidecar::relay {

struct ReachabilityTiming {
  std::chrono::milliseconds credential_poll{1000};  // before the first credential
  std::chrono::milliseconds first_retry{2000};      // after a failed probe, doubling
  std::chrono::milliseconds max_retry{60000};
  std::chrono::milliseconds recheck{60000};  // after the server was reached
};

// Pure: when the next probe is due, on times handed in (unit-tested without a clock).
class ReachabilitySchedule {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ReachabilitySchedule(ReachabilityTiming timing = {}) : timing_(timing) {}

  // A probe ended at `now`: when the next one is due.
  Clock::time_point probed(Clock::time_point now, bool reached);
  // A send got an answer from the server at `now`: no probe before now + recheck.
  void reached(Clock::time_point now);
  // The timer fired at `now`: nullopt to probe now, or the later time to wait for (a
  // send reached the server meanwhile).
  std::optional<Clock::time_point> deferredUntil(Clock::time_point now) const;
  unsigned failuresInARow() const { return failures_; }

 private:
  ReachabilityTiming timing_;
  std::optional<Clock::time_point> last_reached_;
  unsigned failures_ = 0;
};

class SmtpReachabilityProbe {
 public:
  using Report = std::function<void(const SmtpProbeResult&)>;
  // `may_start`: whether the first credential is there (polled, not waited on in a
  // loop); `report` runs on the io thread after each probe.
  SmtpReachabilityProbe(boost::asio::io_context& io, SmtpSettings settings,
                        std::function<bool()> may_start, Report report,
                        ReachabilityTiming timing = {});
  ~SmtpReachabilityProbe();
  SmtpReachabilityProbe(const SmtpReachabilityProbe&) = delete;
  SmtpReachabilityProbe& operator=(const SmtpReachabilityProbe&) = delete;

  void start();
  // A send got an answer from the server: the next probe can wait.
  void reached();
  std::uint64_t probesRun() const { return probes_; }

 private:
  void arm(ReachabilitySchedule::Clock::time_point due);
  void fire();

  boost::asio::io_context& io_;
  SmtpSettings settings_;
  std::function<bool()> may_start_;
  Report report_;
  ReachabilityTiming timing_;
  ReachabilitySchedule schedule_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<bool> alive_;
  bool started_ = false;
  bool probing_ = false;
  std::uint64_t probes_ = 0;
};

}  // namespace sidecar::relay
