// plain_words.cc: see plain_words.h.
//
// SECURITY: pure string functions; no I/O, no secrets.
// ERRORS: none.
#include "sidecar/relay/plain_words.h"

#include <algorithm>
#include <cctype>

namespace sidecar::relay {

std::string printableLine(std::string_view text, std::size_t max) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
      continue;
    }
    out.push_back(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > max) {
    out.resize(max > 3 ? max - 3 : 0);
    out += "...";
  }
  return out;
}

bool containsNoCase(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  const auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                              [](char a, char b) {
                                return std::tolower(static_cast<unsigned char>(a)) ==
                                       std::tolower(static_cast<unsigned char>(b));
                              });
  return it != haystack.end();
}

std::string fillPlaceholders(std::string_view text, PlainVars vars) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '{') {
      const auto end = text.find('}', i);
      if (end != std::string_view::npos) {
        const auto name = text.substr(i + 1, end - i - 1);
        const auto var =
            std::find_if(vars.begin(), vars.end(), [&](const auto& v) { return v.first == name; });
        if (var != vars.end()) {
          out += var->second;
          i = end + 1;
          continue;
        }
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

PlainCause plainFailure(std::string_view cause, std::string_view hint, PlainVars ours,
                        PlainVars theirs) {
  return PlainCause{false, fillPlaceholders(fillPlaceholders(cause, ours), theirs),
                    fillPlaceholders(fillPlaceholders(hint, ours), theirs)};
}

}  // namespace sidecar::relay
