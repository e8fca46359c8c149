// address.cc: envelope address checks and the one RFC 5322 address-list parser.
//
// SECURITY: untrusted input (messages, headers, envelope arguments); pure code with
// fixed limits. Anything the parser cannot read with certainty is malformed. The list
// parser is strict where readers disagree: a display name is quoted text or atoms,
// never an '@' ("evil@evil.test <app@example.test>", also glued or with a comment
// between, is read as evil@evil.test by Python's email), and nothing but white space
// and comments may follow '>'.
// ERRORS: std::optional values (an error text, or nullopt for a malformed list).
#include "mailformat/address.h"

#include <algorithm>

#include "foundation/utf8.h"
#include "text.h"

namespace mailformat {
namespace {

using text::isWsp;
using text::trim;

// Characters allowed in an envelope address. Deliberately narrower than RFC 5321
// (no quoted local parts, no address literals): what applications send in practice,
// and nothing that needs quoting inside MAIL FROM:<...>.
bool isAddressChar(unsigned char c) {
  if (c >= 0x80) return true;  // UTF-8 (SMTPUTF8 addresses); control bytes are < 0x20
  if (c <= 0x20 || c == 0x7f) return false;
  switch (c) {
    case '<':
    case '>':
    case '(':
    case ')':
    case '[':
    case ']':
    case '\\':
    case ',':
    case ';':
    case ':':
    case '"':
      return false;
    default:
      return true;
  }
}

// Parses a mailbox-list / address-list value into addr-specs. False if malformed.
bool parseAddressListInto(std::string_view value, std::size_t max_addresses,
                          std::vector<std::string>& out) {
  std::string plain;         // the current mailbox, comments and quoted text removed
  std::string angle;         // the content of <...>
  bool have_angle = false;   // this mailbox had an angle address
  bool after_angle = false;  // only whitespace and comments may follow '>'
  bool phrase = false;       // quoted text or words before '<' (a display name)
  bool in_group = false;
  std::size_t count = 0;

  auto finishMailbox = [&]() -> bool {
    std::string address;
    if (have_angle) {
      address = std::string(trim(angle));
    } else {
      if (phrase) return false;  // a quoted string without an angle address
      address = std::string(trim(plain));
    }
    have_angle = after_angle = phrase = false;
    plain.clear();
    angle.clear();
    if (address.empty()) return true;  // empty list element (", ,") or empty group
    if (checkAddress(address, false)) return false;
    if (++count > max_addresses) return false;
    out.push_back(std::move(address));
    return true;
  };

  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '(') {  // comment, possibly nested, with quoted-pairs: dropped
      int depth = 1;
      for (++i; i < value.size() && depth > 0; ++i) {
        if (value[i] == '\\')
          ++i;
        else if (value[i] == '(')
          ++depth;
        else if (value[i] == ')')
          --depth;
      }
      if (depth != 0) return false;
      --i;
      plain += ' ';
      continue;
    }
    if (c == '"') {  // quoted string: part of a display name
      std::size_t j = i + 1;
      for (; j < value.size() && value[j] != '"'; ++j) {
        if (value[j] == '\\') ++j;
      }
      if (j >= value.size() || after_angle) return false;
      phrase = true;
      i = j;
      continue;
    }
    if (c == '<') {
      // Before '<' only a display name: atoms and quoted text, never an address.
      if (have_angle || plain.find('@') != std::string::npos) return false;
      const auto close = value.find('>', i + 1);
      if (close == std::string_view::npos) return false;
      angle = std::string(value.substr(i + 1, close - i - 1));
      if (angle.find_first_of("<\"(:,") != std::string::npos) return false;  // no routes
      have_angle = after_angle = true;
      i = close;
      continue;
    }
    if (c == ',') {
      if (!finishMailbox()) return false;
      continue;
    }
    if (c == ':') {  // group start: "name:" (the name is a display phrase)
      if (in_group || have_angle || plain.find('@') != std::string::npos) return false;
      in_group = true;
      plain.clear();
      phrase = false;
      continue;
    }
    if (c == ';') {
      if (!in_group || !finishMailbox()) return false;
      in_group = false;
      continue;
    }
    if (c == '>' || c == '\\' || c == '[' || c == ']') return false;
    if (after_angle) {
      if (!isWsp(c)) return false;
      continue;
    }
    if (isWsp(c)) {
      plain += ' ';
      continue;
    }
    // A second word after a space: a display name ("Joe Bloggs"), not an address.
    if (!plain.empty() && plain.back() == ' ' && !trim(plain).empty()) phrase = true;
    if (phrase && c == '@') return false;  // an address among display-name words
    plain += c;
  }
  if (in_group) return false;
  if (!finishMailbox()) return false;
  return true;
}

}  // namespace

std::optional<std::string> checkAddress(std::string_view address, bool allow_empty) {
  if (address.empty()) {
    if (allow_empty) return std::nullopt;
    return std::string("empty address");
  }
  if (address.size() > kMaxAddress) {
    return std::string("address longer than " + std::to_string(kMaxAddress) + " bytes");
  }
  for (const char ch : address) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\r' || c == '\n' || c == '\0') {
      return std::string("address contains CR, LF or NUL");
    }
    if (!isAddressChar(c)) {
      return std::string("address contains a character that is not allowed");
    }
  }
  // Bytes >= 0x80 only as UTF-8 (RFC 6531): anything else could not be written back
  // in a JSON answer, a log line or the audit record as it was sent.
  if (!foundation::utf8::isValid(address)) return std::string("address is not valid UTF-8");
  const auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) {
    return std::string("address must look like local@domain");
  }
  if (address.find('@') != at) return std::string("address has more than one '@'");
  if (at > kMaxLocalPart) {
    return std::string("local part longer than " + std::to_string(kMaxLocalPart) + " bytes");
  }
  const auto domain = address.substr(at + 1);
  if (domain.front() == '.' || domain.back() == '.' ||
      domain.find("..") != std::string_view::npos) {
    return std::string("domain is not a valid host name");
  }
  return std::nullopt;
}

std::optional<std::vector<std::string>> parseAddressList(std::string_view value,
                                                         std::size_t max_addresses) {
  std::vector<std::string> out;
  if (!parseAddressListInto(value, max_addresses, out)) return std::nullopt;
  return out;
}

bool isLocalName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxLocalPart &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '+';
         });
}

}  // namespace mailformat
