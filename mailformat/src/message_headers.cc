// message_headers.cc: From and Message-ID from the header section (see the header).
//
// SECURITY: untrusted input; every field that names a sender (From, Sender,
// Resent-From, Resent-Sender) goes through the one address-list parser (address.h),
// which is strict; anything it cannot read makes the summary malformed.
// ERRORS: flags in HeaderSummary.
#include "mailformat/message_headers.h"

#include <algorithm>

#include "mailformat/address.h"
#include "text.h"

namespace mailformat {
namespace {

using text::isWsp;
using text::trim;

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
      auto addresses = parseAddressList(field.value, kMaxFromAddresses - summary.from.size());
      if (!addresses || addresses->empty()) {
        summary.from_malformed = true;
      } else {
        summary.from.insert(summary.from.end(), addresses->begin(), addresses->end());
      }
    } else if (!have_message_id && iequalsName(field.name, "Message-ID")) {
      have_message_id = true;
      summary.message_id = messageIdOf(field.value);
    }
  }
  if (summary.from_malformed) summary.from.clear();
  (void)have_from;  // no From at all: an empty list (nothing to check)
  return summary;
}

}  // namespace mailformat
