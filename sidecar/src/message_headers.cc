// message_headers.cc: From and Message-ID from the header section (see the header).
//
// SECURITY: untrusted input; a small state machine over RFC 5322 address lists
// (quoted strings, angle addresses, groups) in every field that names a sender (From,
// Sender, Resent-From, Resent-Sender). Strict where readers disagree: a display name
// is quoted text or atoms (no '@': "evil@evil.test <app@example.test>" is read as
// evil@evil.test by some), comments are refused, nothing may follow '>'. Anything
// else is malformed. Addresses are then checked by checkAddress() like envelope ones.
// ERRORS: flags in HeaderSummary.
#include "sidecar/message_headers.h"

#include <algorithm>

#include "sidecar/submit_request.h"

namespace sidecar::submit {
namespace {

bool isWsp(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && isWsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && isWsp(s.back())) s.remove_suffix(1);
  return s;
}

bool iequalsName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto l = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
           return l(x) == l(y);
         });
}

// One header field: its name and its (still folded) value.
struct Field {
  std::string_view name;
  std::string_view value;
};

// Splits the header section into fields; stops at the first empty line.
std::vector<Field> headerFields(std::string_view message) {
  std::vector<Field> fields;
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t eol = message.find('\n', pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of the header section
    if ((line.front() == ' ' || line.front() == '\t') && !fields.empty()) {
      // A continuation line: extend the previous field's value up to here.
      auto& last = fields.back();
      const char* begin = last.value.data();
      last.value =
          std::string_view(begin, static_cast<std::size_t>(line.data() + line.size() - begin));
    } else {
      const auto colon = line.find(':');
      if (colon != std::string_view::npos) {
        fields.push_back({trim(line.substr(0, colon)), line.substr(colon + 1)});
      }
    }
    pos = eol + 1;
  }
  return fields;
}

// Parses a mailbox-list / address-list value into addr-specs. False if malformed.
bool parseAddressList(std::string_view value, std::vector<std::string>& out) {
  std::string plain;                 // the current mailbox, comments and quoted text removed
  std::string angle;                 // the content of <...>
  bool have_angle = false;           // this mailbox had an angle address
  bool after_angle = false;          // only whitespace (or one comment) may follow '>'
  bool after_angle_comment = false;  // that comment was seen
  bool phrase = false;               // quoted text or words before '<' (a display name)
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
    have_angle = after_angle = after_angle_comment = phrase = false;
    plain.clear();
    angle.clear();
    if (address.empty()) return true;  // empty list element (", ,") or empty group
    if (std::holds_alternative<ApiError>(checkAddress(address, false))) return false;
    if (++count > kMaxFromAddresses) return false;
    out.push_back(std::move(address));
    return true;
  };

  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    // Comments: readers differ on where they may stand and what they hide (some read
    // "a@b (x) <c@d>" as a@b). Only the legacy trailing one is read, "a@b (Name)" or
    // "<a@b> (Name)": after a complete address, plain text, nothing after it.
    if (c == '(') {
      const bool address_done = have_angle || (!trim(plain).empty() && !phrase);
      const auto close = value.find(')', i + 1);
      if (!address_done || after_angle_comment || close == std::string_view::npos) return false;
      const auto text = value.substr(i + 1, close - i - 1);
      if (text.find_first_of("()<>@,;:\\\"") != std::string_view::npos) return false;
      after_angle = after_angle_comment = true;
      i = close;
      continue;
    }
    if (c == ')') return false;
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
  return count > 0;
}

std::string messageIdOf(std::string_view value) {
  auto id = trim(value);
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
  if (id.empty() || id.size() > kMaxMessageIdLength) return {};
  for (char c : id) {
    if (c <= ' ' || c > '~' || c == '<' || c == '>' || c == '"' || c == '\\') return {};
  }
  return std::string(id);
}

}  // namespace

HeaderSummary summarizeHeaders(std::string_view message) {
  HeaderSummary summary;
  bool have_message_id = false;
  bool have_from = false;
  for (const auto& field : headerFields(message)) {
    // Every field that names a sender (RFC 5322 3.6.2, 3.6.6), under one rule.
    if (iequalsName(field.name, "From") || iequalsName(field.name, "Sender") ||
        iequalsName(field.name, "Resent-From") || iequalsName(field.name, "Resent-Sender")) {
      have_from = true;
      if (!parseAddressList(field.value, summary.from)) summary.from_malformed = true;
    } else if (!have_message_id && iequalsName(field.name, "Message-ID")) {
      have_message_id = true;
      summary.message_id = messageIdOf(field.value);
    }
  }
  if (summary.from_malformed) summary.from.clear();
  (void)have_from;  // no From at all: an empty list (nothing to check)
  return summary;
}

}  // namespace sidecar::submit
