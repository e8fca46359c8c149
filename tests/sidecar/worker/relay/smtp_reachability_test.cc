// smtp_reachability_test.cc: when the reachability probe runs (a pure schedule on
// handed-in times), and the probe against real sockets of this test: nothing listening,
// and a listener that accepts and never greets (bounded by smtp.timeout).
#include "sidecar/relay/smtp_reachability.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <optional>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

using namespace std::chrono_literals;
using sidecar::relay::ReachabilitySchedule;
using sidecar::relay::ReachabilityTiming;
using sidecar::relay::SmtpProbeResult;
using sidecar::relay::SmtpReachabilityProbe;
using Clock = ReachabilitySchedule::Clock;

TEST_CASE("failed probes back off, doubling to the cap; a reached server is rechecked") {
  ReachabilitySchedule schedule;  // 2 s doubling to 60 s, recheck 60 s
  const Clock::time_point t0{};
  const std::chrono::seconds waits[] = {2s, 4s, 8s, 16s, 32s, 60s, 60s, 60s};
  Clock::time_point now = t0;
  for (const auto wait : waits) {
    const auto next = schedule.probed(now, false);
    CHECK(next - now == wait);
    CHECK_FALSE(schedule.deferredUntil(next));  // nothing reached it: probe when due
    now = next;
  }
  CHECK(schedule.failuresInARow() == 8);
  const auto next = schedule.probed(now, true);
  CHECK(next - now == 60s);
  CHECK(schedule.failuresInARow() == 0);
  CHECK(schedule.probed(next, false) - next == 2s);  // the backoff starts again
}

TEST_CASE("no probe while sends reach the server") {
  ReachabilitySchedule schedule;
  const Clock::time_point t0{};
  const auto due = schedule.probed(t0, true);  // t0 + 60 s
  schedule.reached(t0 + 50s);                  // a send got an answer
  const auto later = schedule.deferredUntil(due);
  REQUIRE(later);
  CHECK(*later == t0 + 110s);
  CHECK_FALSE(schedule.deferredUntil(t0 + 110s));  // quiet for 60 s: probe again
}

namespace {

sidecar::SmtpSettings loopback(std::uint16_t port) {
  sidecar::SmtpSettings s;
  s.host = "127.0.0.1";
  s.port = port;
  s.tls = sidecar::SmtpTls::StartTls;
  s.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  s.timeout = std::chrono::seconds(1);
  return s;
}

}  // namespace

TEST_CASE("the probe waits for the credential, then reports and backs off") {
  boost::asio::io_context io;
  // A port nothing listens on: bound, then closed.
  std::uint16_t port = 0;
  {
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  bool credential = false;
  std::vector<SmtpProbeResult> reports;
  ReachabilityTiming timing;
  timing.credential_poll = 20ms;
  timing.first_retry = 30ms;
  SmtpReachabilityProbe probe(
      io, loopback(port), [&] { return credential; },
      [&](const SmtpProbeResult& r) {
        reports.push_back(r);
        if (reports.size() == 3) io.stop();
      },
      timing);
  probe.start();
  io.run_for(100ms);
  CHECK(reports.empty());  // no credential yet: no connection
  CHECK(probe.probesRun() == 0);
  credential = true;
  io.restart();
  const auto started = Clock::now();
  io.run_for(5s);
  REQUIRE(reports.size() == 3);
  for (const auto& r : reports) {
    CHECK(r.failure == SmtpProbeResult::Failure::Connect);
    CHECK(r.os_errno == ECONNREFUSED);
    CHECK_FALSE(r.auth_tried);
  }
  // 30 ms then 60 ms between them: bounded, not a busy loop.
  CHECK(Clock::now() - started >= 90ms);
  CHECK(probe.probesRun() == 3);
}

TEST_CASE("a listener that never greets times out within smtp.timeout") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  boost::asio::ip::tcp::socket held(io);
  silent.async_accept(held, [](boost::system::error_code) {});
  std::optional<SmtpProbeResult> report;
  SmtpReachabilityProbe probe(
      io, loopback(silent.local_endpoint().port()), [] { return true; },
      [&](const SmtpProbeResult& r) {
        report = r;
        io.stop();
      });
  probe.start();
  io.run_for(5s);
  REQUIRE(report);
  CHECK(report->failure == SmtpProbeResult::Failure::Timeout);
  CHECK_FALSE(report->greeted);
}
