// http_framing.h: how the submission server reads an HTTP/1.1 request's framing, as
// one pure module: Beast's parser with the server's limits, plus the RFC 9112 rules
// Beast 1.74 does not enforce (framingError).
//
// SECURITY: the request line and headers are the first untrusted bytes a local client
// sends. Limits: headers kHeaderLimit, the read buffer kReadBufferBytes (which is what
// bounds a chunk header with its extensions and the trailer section: Beast 1.74 keeps
// each whole in the buffer before parsing it), the body the caller's limit. A
// request whose framing is ambiguous (Transfer-Encoding not ending in chunked, two
// Hosts, none in HTTP/1.1) is refused, since what follows its header could be read as
// a second request by one party and as body by another.
// ERRORS: framingError() returns a message (nullptr: fine); checkRequestBytes() an
// HTTP status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

namespace sidecar::submit {

inline constexpr std::uint32_t kHeaderLimit = 16 * 1024;
inline constexpr std::size_t kReadBufferBytes = 20 * 1024;

// RFC 9112 framing rules on a parsed request header; nullptr when it is fine.
const char* framingError(const boost::beast::http::request_header<>& header);

// What the server would make of `bytes` as one request (for tests and the fuzz
// target; the server runs the same parser and checks on its socket).
struct RequestCheck {
  unsigned status = 0;         // 0: a complete, acceptable request; else 400/413/431
  bool complete = false;       // the parser reached the end of the message
  std::size_t body_bytes = 0;  // the body as read (never more than body_limit)
};
RequestCheck checkRequestBytes(std::string_view bytes, std::size_t body_limit);

}  // namespace sidecar::submit
