// text.h (private to mailformat/src): the whitespace rules the parsers of this room
// share, so that the address parser and the header summary agree on what folding and
// padding are.
//
// SECURITY: pure; callers pass already bounded input.
// ERRORS: none.
#pragma once

#include <string_view>

namespace mailformat::text {

// RFC 5322 WSP plus the CR and LF of a folded field.
inline bool isWsp(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && isWsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && isWsp(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace mailformat::text
