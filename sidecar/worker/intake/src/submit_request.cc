// submit_request.cc: parsing and checking of submitted mail (see submit_request.h).
//
// SECURITY: untrusted input from local clients; pure code, bounded by the limits in
// the header. Nothing the client sends is trusted to be well formed.
// ERRORS: ApiError with HTTP status 400 (malformed), 422 (invalid address/content).
#include "sidecar/intake/submit_request.h"

#include <algorithm>

#include "mailformat/address.h"

namespace sidecar::submit {
namespace {

ApiError invalidAddress(std::string message) {
  return ApiError{422, "invalid_address", std::move(message)};
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::variant<std::string, ApiError> percentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) {
        return ApiError{400, "malformed_query", "truncated percent-escape in query string"};
      }
      int hi = hexValue(in[i + 1]);
      int lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) {
        return ApiError{400, "malformed_query", "bad percent-escape in query string"};
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

}  // namespace

std::variant<std::monostate, ApiError> checkAddress(std::string_view address, bool allow_empty) {
  if (auto problem = mailformat::checkAddress(address, allow_empty)) {
    return invalidAddress(std::move(*problem));
  }
  return std::monostate{};
}

Target splitTarget(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

Parsed<Envelope> parseEnvelopeQuery(std::string_view query) {
  if (query.size() > kMaxQueryLength) {
    return ApiError{400, "malformed_query", "query string too long"};
  }
  Envelope envelope;
  bool have_from = false;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const auto name = pair.substr(0, eq);
    const auto raw_value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto decoded = percentDecode(raw_value);
    if (auto* err = std::get_if<ApiError>(&decoded)) return *err;
    auto& value = std::get<std::string>(decoded);

    if (name == "from") {
      if (have_from) return ApiError{400, "malformed_query", "more than one 'from'"};
      if (auto r = checkAddress(value, /*allow_empty=*/true); std::holds_alternative<ApiError>(r)) {
        auto e = std::get<ApiError>(r);
        e.message = "from: " + e.message;
        return e;
      }
      envelope.from = std::move(value);
      have_from = true;
    } else if (name == "to") {
      std::string_view list = value;
      while (true) {
        const auto comma = list.find(',');
        const auto one = list.substr(0, comma);
        if (auto r = checkAddress(one, false);
            std::holds_alternative<ApiError>(r) && !isLocalName(one)) {
          auto e = std::get<ApiError>(r);
          e.message = "to: " + e.message;
          return e;
        }
        if (envelope.recipients.size() == kMaxRecipients) {
          return ApiError{422, "too_many_recipients",
                          "more than " + std::to_string(kMaxRecipients) + " recipients"};
        }
        envelope.recipients.emplace_back(one);
        if (comma == std::string_view::npos) break;
        list = list.substr(comma + 1);
      }
    } else {
      return ApiError{400, "malformed_query", "unknown query parameter (expected 'from' and 'to')"};
    }
  }
  envelope.implicit_from = !have_from;
  if (envelope.recipients.empty()) {
    return ApiError{400, "missing_recipient", "at least one 'to' query parameter is required"};
  }
  return envelope;
}

Parsed<std::string> normalizeRawMessage(std::string_view message) {
  if (message.empty()) return ApiError{400, "empty_message", "the message body is empty"};
  if (message.find('\0') != std::string_view::npos) {
    return ApiError{422, "invalid_message", "the message contains a NUL byte"};
  }
  std::string out;
  out.reserve(message.size() + message.size() / 32 + 2);
  std::size_t line_start = 0;
  bool first_line = true;
  while (line_start < message.size()) {
    auto lf = message.find('\n', line_start);
    const bool last = lf == std::string_view::npos;
    std::string_view line =
        message.substr(line_start, last ? std::string_view::npos : lf - line_start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos) {
      return ApiError{422, "invalid_message", "the message contains a bare CR"};
    }
    if (line.size() > kMaxLineLength) {
      return ApiError{422, "invalid_message",
                      "a line is longer than " + std::to_string(kMaxLineLength) + " bytes"};
    }
    if (first_line) {
      const auto colon = line.find(':');
      const bool header_like = colon != std::string_view::npos && colon > 0 &&
                               std::all_of(line.begin(), line.begin() + static_cast<long>(colon),
                                           [](char c) { return c > 32 && c < 127; });
      if (!header_like) {
        return ApiError{422, "invalid_message", "the message does not start with a header field"};
      }
      first_line = false;
    }
    out.append(line);
    out.append("\r\n");
    if (last) break;
    line_start = lf + 1;
  }
  return out;
}

}  // namespace sidecar::submit
