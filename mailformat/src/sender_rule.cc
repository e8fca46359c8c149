// sender_rule.cc: see sender_rule.h.
//
// SECURITY: pure functions over operator patterns and checked addresses.
// ERRORS: Permanent errors for malformed patterns.
#include "mailformat/sender_rule.h"

#include <algorithm>

namespace mailformat {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool hasOnly(std::string_view s, std::string_view allowed_extra) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           allowed_extra.find(c) != std::string_view::npos;
  });
}

}  // namespace

foundation::Status checkSenderPattern(std::string_view pattern) {
  const auto at = pattern.find('@');
  if (at == std::string_view::npos || pattern.find('@', at + 1) != std::string_view::npos) {
    return foundation::Error::permanent("\"" + std::string(pattern) +
                                        "\": expected \"user@domain\" or \"*@domain\"");
  }
  const auto local = pattern.substr(0, at);
  const auto domain = pattern.substr(at + 1);
  const bool local_ok = local == "*" || (!local.empty() && local.size() <= 64 &&
                                         hasOnly(local, "!#$%&'+-/=?^_`{|}~."));
  const bool domain_ok = !domain.empty() && domain.size() <= 253 && hasOnly(domain, ".-") &&
                         domain.front() != '.' && domain.back() != '.';
  if (!local_ok || !domain_ok) {
    return foundation::Error::permanent("\"" + std::string(pattern) +
                                        "\": expected \"user@domain\" or \"*@domain\" (the only "
                                        "wildcard is a whole local part)");
  }
  return {};
}

bool senderAllowed(const std::vector<std::string>& patterns, std::string_view address) {
  if (patterns.empty()) return true;
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return false;  // includes the null sender
  for (const auto& pattern : patterns) {
    const std::string_view p(pattern);
    if (p.rfind("*@", 0) == 0) {
      if (at > 0 && iequals(address.substr(at + 1), p.substr(2))) return true;
    } else if (iequals(address, p)) {
      return true;
    }
  }
  return false;
}

}  // namespace mailformat
