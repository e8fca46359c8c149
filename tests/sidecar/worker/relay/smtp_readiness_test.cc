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
      {"connection refused",
       outcome(SendOutcome::TemporaryFailure, 0, "Failed to connect: Connection refused"), false,
       "the SMTP server mail.test:2587 did not answer (check smtp.host and smtp.port, and that it "
       "is up): Failed to connect: Connection refused"},
      {"no detail", outcome(SendOutcome::TemporaryFailure, 0), false,
       "did not answer (check smtp.host and smtp.port, and that it is up)"},
      {"certificate not trusted",
       outcome(SendOutcome::TlsFailure, 0, "SSL certificate problem: unable to get local issuer"),
       false,
       "TLS with the SMTP server mail.test:2587 failed (check smtp.tls and smtp.ca_file): SSL "
       "certificate problem"},
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
