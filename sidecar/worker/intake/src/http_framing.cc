// http_framing.cc: request framing rules and a parser harness (see http_framing.h).
//
// SECURITY: pure; checkRequestBytes() feeds Beast's parser the way the server's reads
// do (through a buffer of kReadBufferBytes), so a test or fuzz input meets the same
// limits a client on the socket does.
// ERRORS: HTTP statuses in RequestCheck.
#include "sidecar/intake/http_framing.h"

#include <algorithm>
#include <string>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/string_body.hpp>

namespace sidecar::submit {

namespace beast = boost::beast;
namespace http = beast::http;

const char* framingError(const http::request_header<>& h) {
  if (h.version() != 10 && h.version() != 11) return "only HTTP/1.0 and HTTP/1.1 are served";
  const auto hosts = h.count(http::field::host);
  if (hosts > 1) return "more than one Host header (RFC 9112 3.2)";
  if (h.version() == 11 && hosts == 0) return "an HTTP/1.1 request needs a Host header";
  bool have_te = false;
  std::size_t chunked = 0;
  std::string_view last;
  const auto [te_begin, te_end] = h.equal_range(http::field::transfer_encoding);
  for (auto field = te_begin; field != te_end; ++field) {
    have_te = true;
    last = {};
    for (const auto& coding : http::token_list(field->value())) {
      last = std::string_view(coding.data(), coding.size());
      if (beast::iequals(last, "chunked")) ++chunked;
    }
  }
  if (!have_te) return nullptr;
  if (h.version() == 10) return "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1)";
  if (chunked != 1 || !beast::iequals(last, "chunked")) {
    return "Transfer-Encoding must end in chunked, applied once (RFC 9112 6.3)";
  }
  return nullptr;
}

RequestCheck checkRequestBytes(std::string_view bytes, std::size_t body_limit) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(body_limit);
  RequestCheck out;
  std::string buffered;  // what a read put in the buffer and the parser has not taken
  std::size_t offset = 0;
  bool header_checked = false;
  auto refuse = [&](beast::error_code ec) {
    if (ec == http::error::body_limit) {
      out.status = 413;
    } else if (ec == http::error::header_limit) {
      out.status = 431;
    } else {
      out.status = 400;
    }
    return out;
  };
  while (!parser.is_done()) {
    if (buffered.size() >= kReadBufferBytes) {
      out.status = parser.is_header_done() ? 400 : 431;  // the server's buffer_overflow
      return out;
    }
    if (offset == bytes.size()) return out;  // incomplete: the server would wait
    const std::size_t room = std::min<std::size_t>(kReadBufferBytes - buffered.size(), 4096);
    const auto take = std::min(room, bytes.size() - offset);
    buffered.append(bytes.substr(offset, take));
    offset += take;
    for (;;) {
      beast::error_code ec;
      const auto used = parser.put(boost::asio::buffer(buffered.data(), buffered.size()), ec);
      buffered.erase(0, used);
      if (ec == http::error::need_more) break;
      if (ec) return refuse(ec);
      if (parser.is_header_done() && !header_checked) {
        header_checked = true;
        if (framingError(parser.get()) != nullptr) {
          out.status = 400;
          return out;
        }
      }
      if (parser.is_done() || used == 0) break;
    }
  }
  out.complete = true;
  out.body_bytes = parser.get().body().size();
  return out;
}

}  // namespace sidecar::submit
