// answer_test.cc: request target and the mapping of sidecar answers to sysexits codes.
#include "sendmail/answer.h"

#include <doctest/doctest.h>

using namespace sendmail;

TEST_CASE("requestTarget percent-encodes everything that could change the query") {
  CHECK(requestTarget("app@x.test", {"a@x.test", "b+tag@x.test"}) ==
        "/v1/messages?from=app@x.test&to=a@x.test&to=b%2Btag@x.test");
  CHECK(requestTarget("", {"a&to=evil@x.test"}) == "/v1/messages?from=&to=a%26to%3Devil@x.test");
  CHECK(requestTarget("j\xC3\xB6rg@x.test", {"a b@x.test"}) ==
        "/v1/messages?from=j%C3%B6rg@x.test&to=a%20b@x.test");
}

TEST_CASE("mapAnswer maps each sidecar answer to a sysexits code and a reason") {
  struct Case {
    unsigned status;
    const char* body;
    int want_code;
    const char* want_part;  // "" means: print nothing
  };
  const Case cases[] = {
      {200, R"({"status":"sent","smtp":{"code":250,"message":"ok"},"recipients":[]})", 0, ""},
      {202, R"({"id":"ab","status":"queued"})", 0, ""},
      {200,
       R"({"status":"partially_sent","smtp":{"code":250,"message":"ok"},"recipients":[)"
       R"({"address":"good@x.test","status":"accepted","code":250,"message":"ok"},)"
       R"({"address":"bad@x.test","status":"rejected","code":550,"message":"5.1.1 unknown"}]})",
       69, "did not accept these recipients: bad@x.test (550 5.1.1 unknown)"},
      {200, R"({"status":"weird"})", 70, "unexpected answer"},
      {200, "not json", 70, "unexpected answer"},
      {400, R"({"error":{"code":"missing_recipient","message":"at least one"}})", 65,
       "HTTP 400 missing_recipient: at least one"},
      {413, R"({"error":{"code":"message_too_large","message":"larger than 10 bytes"}})", 65,
       "message_too_large"},
      {415, R"({"error":{"code":"unsupported_media_type","message":"x"}})", 65,
       "unsupported_media_type"},
      {422, R"({"error":{"code":"invalid_message","message":"the message contains a bare CR"}})",
       65, "bare CR"},
      {403, R"({"error":{"code":"forbidden","message":"sender not allowed"}})", 77,
       "sender not allowed"},
      {429, R"({"error":{"code":"queue_full","message":"too many"}})", 75, "queue_full"},
      {503, R"({"error":{"code":"no_credential","message":"none"}})", 75, "no_credential"},
      {503, R"({"error":{"code":"smtp_unavailable","message":"down"}})", 75, "try again later"},
      {502,
       R"({"error":{"code":"smtp_rejected","message":"the SMTP server refused the message",)"
       R"("smtp":{"code":554,"message":"5.7.1 no"}}})",
       69, "smtp_rejected: the SMTP server refused the message (554 5.7.1 no)"},
      {502,
       R"({"error":{"code":"smtp_rejected","message":"refused","smtp":{"code":550,"message":"x"},)"
       R"("recipients":[{"address":"bad@x.test","status":"rejected","code":550,"message":"no"}]}})",
       69, "not accepted: bad@x.test (550 no)"},
      {502, R"({"error":{"code":"smtp_tls_failed","message":"TLS failed"}})", 69, "TLS failed"},
      {500, "", 75, "HTTP 500"},
      {404, R"({"error":{"code":"not_found","message":"no such endpoint"}})", 70, "not_found"},
      {431, "{}", 70, "HTTP 431"},
      // Control characters from the peer never reach the terminal.
      {422, "{\"error\":{\"code\":\"x\",\"message\":\"a\\u001b[31mb\"}}", 65, "a?[31mb"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.status);
    const std::string captured_body = c.body;
    CAPTURE(captured_body);
    const auto v = mapAnswer(c.status, c.body);
    CHECK(v.exit_code == c.want_code);
    if (std::string_view(c.want_part).empty()) {
      CHECK(v.line.empty());
    } else {
      CHECK(v.line.find(c.want_part) != std::string::npos);
    }
    CHECK(v.line.find('\x1b') == std::string::npos);
  }
}

TEST_CASE("mapAnswer lists at most ten refused recipients") {
  std::string body = R"({"status":"partially_sent","recipients":[)";
  for (int i = 0; i < 15; ++i) {
    body += (i ? "," : "") + std::string(R"({"address":"r)") + std::to_string(i) +
            R"(@x.test","status":"rejected","code":550,"message":"no"})";
  }
  body += "]}";
  const auto v = mapAnswer(200, body);
  CHECK(v.exit_code == 69);
  CHECK(v.line.find("r9@x.test") != std::string::npos);
  CHECK(v.line.find("r10@x.test") == std::string::npos);
  CHECK(v.line.find("and 5 more") != std::string::npos);
}

TEST_CASE("mapTransportError") {
  struct Case {
    TransportFailure kind;
    int want_code;
    const char* want_part;
  };
  const Case cases[] = {
      {TransportFailure::SocketMissing, 75, "no smtp-sidecar socket at /run/s.sock"},
      {TransportFailure::PermissionDenied, 77, "socket's group"},
      {TransportFailure::Refused, 75, "not listening"},
      {TransportFailure::Timeout, 75, "no answer"},
      {TransportFailure::Broken, 75, "may or may not have been sent"},
      {TransportFailure::BadAnswer, 70, "unreadable answer"},
      {TransportFailure::BadPath, 64, "not usable"},
  };
  for (const auto& c : cases) {
    const auto v = mapTransportError({c.kind, "detail"}, "/run/s.sock");
    CAPTURE(v.line);
    CHECK(v.exit_code == c.want_code);
    CHECK(v.line.find(c.want_part) != std::string::npos);
  }
}

TEST_CASE("requestTarget without a sender leaves the choice to the sidecar") {
  CHECK(requestTarget(std::nullopt, {"root", "a@x.test"}) == "/v1/messages?to=root&to=a@x.test");
}
