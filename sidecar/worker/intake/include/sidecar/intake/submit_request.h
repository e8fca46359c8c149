// submit_request.h: the input gate for mail submitted on the Unix socket.
//
// SECURITY: everything here is untrusted client input (any local process that can
// connect). Pure functions, no I/O, fixed limits. Envelope addresses are checked the
// way postdrop checks envelope records: no CR, LF or NUL (no SMTP command injection),
// no spaces or angle brackets, bounded length. The raw message is checked for NUL and
// over-long lines, and its line endings are normalised to CRLF for SMTP.
// ERRORS: ApiError values carrying the HTTP status and a stable machine code.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mailformat/address.h"
#include "mailformat/envelope.h"

namespace sidecar::submit {

using mailformat::kMaxRecipients;
// RFC 5322 2.1.1: lines of at most 998 characters plus CRLF.
inline constexpr std::size_t kMaxLineLength = 998;
// The query string carries only addresses; anything longer is not a submission.
inline constexpr std::size_t kMaxQueryLength = 64 * 1024;

struct ApiError {
  unsigned http_status;  // 400, 413, 415, 422, ...
  std::string code;      // stable, machine-readable: "invalid_address", ...
  std::string message;   // for humans; safe to log (echoes no message content)
};

template <typename T>
using Parsed = std::variant<T, ApiError>;

using mailformat::Envelope;
using mailformat::isLocalName;

// Checks one envelope address ("local@domain"). Empty is allowed only when
// `allow_empty` (the null sender).
std::variant<std::monostate, ApiError> checkAddress(std::string_view address, bool allow_empty);

// Parses the query string of POST /v1/messages: from=<addr> (optional: without it the
// profile names the sender), to=<addr> or to=<local name> (repeatable, or
// comma-separated). Percent-decoding per RFC 3986; '+' is a space (form encoding)
// and therefore never valid in an address after decoding.
Parsed<Envelope> parseEnvelopeQuery(std::string_view query);

// Checks a raw RFC 5322 message and returns it with CRLF line endings and a final
// CRLF. Refuses NUL, lines over kMaxLineLength, and a message without a header
// section (no "Name: value" first line) or without the empty line that ends it.
Parsed<std::string> normalizeRawMessage(std::string_view message);

// Splits "/v1/messages?x=y" into path and query.
struct Target {
  std::string_view path;
  std::string_view query;
};
Target splitTarget(std::string_view target);

}  // namespace sidecar::submit
