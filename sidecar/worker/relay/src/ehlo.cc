// ehlo.cc: EHLO capability parsing (see ehlo.h).
//
// SECURITY: untrusted server text; bounded loops over string_views, no allocation.
// ERRORS: none; malformed lines are skipped.
#include "sidecar/relay/ehlo.h"

#include "mailformat/smtp_reply.h"

namespace sidecar::relay {
namespace {

char upper(char c) noexcept {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper(b[i])) return false;
  }
  return true;
}

// The next space-separated word of `rest` (consumed), empty at the end.
std::string_view nextWord(std::string_view& rest) noexcept {
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  std::size_t end = 0;
  while (end < rest.size() && rest[end] != ' ' && rest[end] != '\t') ++end;
  const std::string_view word = rest.substr(0, end);
  rest.remove_prefix(end);
  return word;
}

unsigned mechanismBit(std::string_view name) noexcept {
  if (equalsIgnoringCase(name, "PLAIN")) return kSaslPlain;
  if (equalsIgnoringCase(name, "LOGIN")) return kSaslLogin;
  if (equalsIgnoringCase(name, "XOAUTH2")) return kSaslXOAuth2;
  if (equalsIgnoringCase(name, "OAUTHBEARER")) return kSaslOAuthBearer;
  return 0;
}

void parseAuth(std::string_view params, EhloCapabilities& caps) noexcept {
  caps.auth_offered = true;
  for (std::size_t n = 0; n < kMaxAuthMechanisms; ++n) {
    const std::string_view word = nextWord(params);
    if (word.empty()) return;
    caps.auth |= mechanismBit(word);
  }
}

// RFC 1870: "SIZE" [SP 1*20DIGIT]; 0 or absent means no fixed maximum.
void parseSize(std::string_view params, EhloCapabilities& caps) noexcept {
  caps.size = true;
  const std::string_view word = nextWord(params);
  if (word.empty() || word.size() > 20) return;
  std::uint64_t value = 0;
  for (char c : word) {
    if (c < '0' || c > '9') return;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return;  // overflow: treat as "no limit given"
    value = value * 10 + digit;
  }
  caps.size_limit = value;
}

void parseKeywordLine(std::string_view line, EhloCapabilities& caps) noexcept {
  if (line.size() > mailformat::kMaxReplyLine) return;
  std::string_view rest = line;
  std::string_view keyword = nextWord(rest);
  // The pre-RFC 4954 form some servers still send beside the standard one: "AUTH=PLAIN LOGIN".
  if (keyword.size() > 5 && equalsIgnoringCase(keyword.substr(0, 5), "AUTH=")) {
    caps.auth_offered = true;
    caps.auth |= mechanismBit(keyword.substr(5));
    return parseAuth(rest, caps);
  }
  if (equalsIgnoringCase(keyword, "PIPELINING"))
    caps.pipelining = true;
  else if (equalsIgnoringCase(keyword, "CHUNKING"))
    caps.chunking = true;
  else if (equalsIgnoringCase(keyword, "STARTTLS"))
    caps.starttls = true;
  else if (equalsIgnoringCase(keyword, "8BITMIME"))
    caps.eightbitmime = true;
  else if (equalsIgnoringCase(keyword, "SMTPUTF8"))
    caps.smtputf8 = true;
  else if (equalsIgnoringCase(keyword, "ENHANCEDSTATUSCODES"))
    caps.enhanced_codes = true;
  else if (equalsIgnoringCase(keyword, "SIZE"))
    parseSize(rest, caps);
  else if (equalsIgnoringCase(keyword, "AUTH"))
    parseAuth(rest, caps);
}

}  // namespace

EhloCapabilities parseEhlo(std::string_view reply_text) noexcept {
  EhloCapabilities caps;
  // The first line is the server's name; keywords start on the second.
  std::size_t newline = reply_text.find('\n');
  if (newline == std::string_view::npos) return caps;
  std::string_view rest = reply_text.substr(newline + 1);
  for (std::size_t n = 0; n < kMaxEhloLines && !rest.empty(); ++n) {
    newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    parseKeywordLine(line, caps);
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  return caps;
}

}  // namespace sidecar::relay
