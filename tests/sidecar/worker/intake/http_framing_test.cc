// http_framing_test.cc: the request framing the server accepts and what it refuses
// (issue 17), on the same parser and limits as the socket.
#include "sidecar/intake/http_framing.h"

#include <doctest/doctest.h>

#include <string>

using namespace sidecar::submit;

namespace {

std::string post(const std::string& headers, const std::string& body = "") {
  return "POST /v1/messages HTTP/1.1\r\n" + headers + "\r\n" + body;
}

}  // namespace

TEST_CASE("request framing: accepted and refused") {
  struct Case {
    const char* name;
    std::string bytes;
    unsigned want_status;  // 0: accepted
    std::size_t want_body = 0;
  };
  const std::string big(1 << 20, 'b');
  std::string many;
  for (int i = 0; i < 10000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  const Case cases[] = {
      {"content length", post("Host: x\r\nContent-Length: 2\r\n", "{}"), 0, 2},
      {"chunked", post("Host: x\r\nTransfer-Encoding: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n"), 0, 2},
      {"chunked, short extension",
       post("Host: x\r\nTransfer-Encoding: chunked\r\n", "2;a=b\r\n{}\r\n0\r\n\r\n"), 0, 2},
      {"HTTP/1.0 without Host", "GET /v1/health HTTP/1.0\r\n\r\n", 0},
      {"chunk extension that never ends",
       post("Host: x\r\nTransfer-Encoding: chunked\r\n", "1;" + std::string(100000, 'e')), 400},
      {"trailer that never ends",
       post("Host: x\r\nTransfer-Encoding: chunked\r\n", "0\r\nX: " + std::string(100000, 't')),
       400},
      {"TE gzip", post("Host: x\r\nTransfer-Encoding: gzip\r\n", "GET / HTTP/1.1\r\n\r\n"), 400},
      {"TE chunked, gzip", post("Host: x\r\nTransfer-Encoding: chunked, gzip\r\n"), 400},
      {"TE chunked, chunked", post("Host: x\r\nTransfer-Encoding: chunked, chunked\r\n"), 400},
      {"TE empty", post("Host: x\r\nTransfer-Encoding: \r\n"), 400},
      {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"no Host in HTTP/1.1", "GET /v1/health HTTP/1.1\r\n\r\n", 400},
      {"two Hosts", "GET /v1/health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"CL and TE", post("Host: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 400},
      {"TE and CL", post("Host: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400},
      {"two lengths", post("Host: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n", "hello!"), 400},
      {"bad chunk size", post("Host: x\r\nTransfer-Encoding: chunked\r\n", "zz\r\nx\r\n"), 400},
      {"chunk size overflow",
       post("Host: x\r\nTransfer-Encoding: chunked\r\n", std::string(40, 'f') + "\r\nx\r\n"), 400},
      {"body over the limit", post("Host: x\r\nContent-Length: 1025\r\n"), 413},
      {"chunked body over the limit",
       post("Host: x\r\nTransfer-Encoding: chunked\r\n", "800\r\n" + std::string(2048, 'c')), 413},
      {"1 MiB header", post("Host: x\r\nX-Big: " + big + "\r\n"), 431},
      {"10,000 headers", post("Host: x\r\n" + many), 431},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto got = checkRequestBytes(c.bytes, 1024);
    CHECK(got.status == c.want_status);
    if (c.want_status == 0) {
      CHECK(got.complete);
      CHECK(got.body_bytes == c.want_body);
    }
  }
}

TEST_CASE("an incomplete request is neither accepted nor refused (the server waits)") {
  const auto got =
      checkRequestBytes("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab", 64);
  CHECK(got.status == 0);
  CHECK_FALSE(got.complete);
}
