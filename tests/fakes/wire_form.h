// wire_form.h (tests): whether a message is in the form the sidecar may send: CRLF
// line ends only, no NUL, lines of at most 998 octets (RFC 5322 2.1.1).
#pragma once

#include <string_view>

namespace testing_wire {

inline bool isWireForm(std::string_view m) {
  std::size_t line = 0;
  for (std::size_t i = 0; i < m.size(); ++i) {
    const char c = m[i];
    if (c == '\0') return false;
    if (c == '\r') {
      if (i + 1 == m.size() || m[i + 1] != '\n') return false;
      ++i;
      line = 0;
      continue;
    }
    if (c == '\n') return false;  // a bare LF
    if (++line > 998) return false;
  }
  return m.size() >= 2 && m.substr(m.size() - 2) == "\r\n";
}

}  // namespace testing_wire
