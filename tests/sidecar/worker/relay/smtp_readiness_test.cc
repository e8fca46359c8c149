// smtp_readiness_test.cc: which send outcomes make /v1/ready say mail cannot be sent.
#include "sidecar/relay/smtp_readiness.h"

#include <doctest/doctest.h>

namespace {

using sidecar::relay::SendOutcome;
using sidecar::relay::SendResult;
using sidecar::relay::SmtpReadiness;

SendResult outcome(SendOutcome o, int code, std::string detail = {}) {
  SendResult r;
  r.outcome = o;
  r.reply.code = code;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

TEST_CASE("an attempt's outcome decides readiness") {
  struct Case {
    const char* name;
    SendResult result;
    bool ready;
    const char* reason_has;  // when not ready
  };
  const Case cases[] = {
      {"accepted", outcome(SendOutcome::Accepted, 250), true, ""},
      {"refused with 5xx: the server answered", outcome(SendOutcome::Rejected, 554), true, ""},
      {"a 4xx: the server answered", outcome(SendOutcome::TemporaryFailure, 451), true, ""},
      {"AUTH refused: the server answered", outcome(SendOutcome::AuthRefused, 535), true, ""},
      {"set-up failure: its detail is doctor's words, naming the server",
       outcome(SendOutcome::TemporaryFailure, 0,
               "SMTP connection refused at mail.test:2587 (nothing listens there, or a firewall "
               "rejects it); check smtp.port"),
       false,
       "SMTP connection refused at mail.test:2587 (nothing listens there, or a firewall "
       "rejects it); check smtp.port"},
      {"a connection that broke later: the server is named",
       outcome(SendOutcome::TemporaryFailure, 0, "timed out waiting for the SMTP server"), false,
       "the SMTP server mail.test:2587: timed out waiting for the SMTP server"},
      {"no detail", outcome(SendOutcome::TemporaryFailure, 0), false,
       "did not answer (check smtp.host and smtp.port, and that it is up)"},
      {"TLS without detail", outcome(SendOutcome::TlsFailure, 0), false,
       "TLS with the SMTP server mail.test:2587 failed (check smtp.tls and smtp.ca_file)"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      SmtpReadiness readiness("mail.test", 2587);
      CHECK(readiness.ready());  // nothing known yet: the keeper's readiness decides
      CHECK(readiness.record(c.result) == !c.ready);
      CHECK(readiness.ready() == c.ready);
      if (c.ready) {
        CHECK(readiness.reason().empty());
      } else {
        CHECK_MESSAGE(readiness.reason().find(c.reason_has) != std::string::npos,
                      readiness.reason());
      }
    }
  }
}

TEST_CASE("an answer from the server makes it ready again") {
  SmtpReadiness readiness("mail.test", 587);
  CHECK(readiness.record(outcome(SendOutcome::TlsFailure, 0, "handshake failed")));
  CHECK_FALSE(readiness.ready());
  // Another failure: still not ready, not a change; the reason is the latest.
  CHECK_FALSE(readiness.record(outcome(SendOutcome::TemporaryFailure, 0, "timed out")));
  CHECK(readiness.reason().find("timed out") != std::string::npos);
  CHECK(readiness.record(outcome(SendOutcome::Accepted, 250)));
  CHECK(readiness.ready());
  CHECK(readiness.reason().empty());
}

TEST_CASE("the probe decides readiness before any send") {
  using sidecar::relay::SmtpProbeResult;
  SmtpReadiness readiness("mail.test", 587);
  readiness.awaitFirstCheck();
  CHECK_FALSE(readiness.ready());
  CHECK(readiness.reason().find("checking whether the SMTP server mail.test:587") !=
        std::string::npos);
  SmtpProbeResult refused;
  refused.failure = SmtpProbeResult::Failure::Connect;
  CHECK_FALSE(readiness.recordProbe(refused, "SMTP connection refused at mail.test:587"));
  CHECK(readiness.reason() == "SMTP connection refused at mail.test:587");
  SmtpProbeResult ehlo_refused;  // stricter than a send: a refusing server is not ready
  ehlo_refused.failure = SmtpProbeResult::Failure::Protocol;
  ehlo_refused.reply.code = 554;
  CHECK_FALSE(readiness.recordProbe(ehlo_refused, "EHLO refused"));
  CHECK_FALSE(readiness.ready());
  CHECK(readiness.recordProbe(SmtpProbeResult{}, "unused"));
  CHECK(readiness.ready());
  // A send that finds the server gone flips it back, and a send that reaches it too.
  CHECK(readiness.record(outcome(SendOutcome::TlsFailure, 0, "TLS verification failed: x")));
  CHECK(readiness.record(outcome(SendOutcome::Accepted, 250)));
}
