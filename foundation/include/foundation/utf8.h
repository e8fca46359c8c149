// utf8.h: valid UTF-8 for everything the sidecar writes (JSON answers, log lines,
// audit records).
//
// SECURITY: client bytes (a percent-escaped recipient, an SMTP server's reply) reach
// these outputs; a JSON reader meeting invalid UTF-8 may refuse the whole line or
// read something else than was written, so every string is made valid first.
// ERRORS: none (each byte that starts no valid sequence becomes U+FFFD).
#pragma once

#include <string>
#include <string_view>

namespace foundation::utf8 {

// True if `s` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool isValid(std::string_view s) noexcept;

// `s` with each invalid sequence replaced by U+FFFD (EF BF BD).
std::string sanitize(std::string_view s);

}  // namespace foundation::utf8
