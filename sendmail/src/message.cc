// message.cc: stdin -> message + envelope (see message.h).
//
// SECURITY: the caller's data, bounded by max_bytes in InputCollector; everything
// else is linear in the input. Addresses are checked with the sidecar's checkAddress.
// ERRORS: Failure values.
#include "sendmail/message.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "mailformat/address.h"
#include "mailformat/mime.h"

namespace sendmail {
namespace {

bool isDotLine(std::string_view line) {
  return line == "." || line == ".\r";
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 5322 3.6.8: field-name is printable ASCII except ':'; "Name:" starts a field.
std::size_t fieldNameLength(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return 0;
  for (std::size_t i = 0; i < colon; ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c <= 32 || c >= 127) return 0;
  }
  return colon;
}

struct Field {
  std::string_view name;
  std::vector<std::string_view> lines;  // first line and continuation lines, no EOL
};

std::string unfold(const Field& field) {
  std::string value(field.lines.front().substr(field.name.size() + 1));
  for (std::size_t i = 1; i < field.lines.size(); ++i) value.append(field.lines[i]);
  return value;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// Adds each address of `value` to `out` (deduplicated), checking it. `what` names
// where it came from for the error message.
std::optional<Failure> addRecipients(std::string_view value, int exit_code, std::string_view what,
                                     std::vector<std::string>& out) {
  // A local name ("root", cron's MAILTO=ops) is the sidecar's to resolve (the caller's
  // profile's aliases).
  std::optional<std::vector<std::string>> addresses;
  if (const auto name = trim(value); mailformat::isLocalName(name)) {
    addresses = std::vector<std::string>{name};
  } else {
    addresses = mailformat::parseAddressList(value, mailformat::kMaxRecipients + 1);
  }
  if (!addresses) {
    // One address that is wrong on its own ("root") gets the reason; a list that is
    // not an address list at all gets said so.
    if (auto problem = mailformat::checkAddress(value, false);
        problem && value.find_first_of(",<>:;\"(") == std::string_view::npos) {
      return Failure{exit_code, std::string(what) + ": invalid recipient \"" +
                                    printable(value, 100) + "\": " + *problem};
    }
    return Failure{exit_code, std::string(what) + ": \"" + printable(value, 100) +
                                  "\" is not a list of valid addresses"};
  }
  for (auto& address : *addresses) {
    if (std::find(out.begin(), out.end(), address) != out.end()) continue;
    if (out.size() == mailformat::kMaxRecipients) {
      return Failure{exit_code,
                     "more than " + std::to_string(mailformat::kMaxRecipients) + " recipients"};
    }
    out.push_back(std::move(address));
  }
  return std::nullopt;
}

}  // namespace

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  for (const char ch : text) {
    if (out.size() >= max) {
      out.append("...");
      break;
    }
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(c < 0x20 || c == 0x7f ? '?' : ch);
  }
  return out;
}

InputCollector::InputCollector(bool dot_ends_input, std::size_t max_bytes)
    : dot_ends_input_(dot_ends_input), max_bytes_(max_bytes) {}

// Looks at the complete lines in data_[line_start_, end); truncates at a dot line.
bool InputCollector::checkDotLine(std::size_t end) {
  while (true) {
    const auto nl = data_.find('\n', line_start_);
    if (nl == std::string::npos || nl >= end) return false;
    if (isDotLine(std::string_view(data_).substr(line_start_, nl - line_start_))) {
      data_.resize(line_start_);
      return true;
    }
    line_start_ = nl + 1;
  }
}

InputCollector::State InputCollector::checkSize() {
  return data_.size() > max_bytes_ ? State::TooLarge : State::More;
}

InputCollector::State InputCollector::feed(std::string_view chunk) {
  if (state_ != State::More) return state_;
  data_.append(chunk);
  if (dot_ends_input_ && checkDotLine(data_.size())) {
    state_ = checkSize() == State::TooLarge ? State::TooLarge : State::Done;
    return state_;
  }
  if (!dot_ends_input_) line_start_ = data_.size();
  state_ = checkSize();
  return state_;
}

InputCollector::State InputCollector::finish() {
  if (state_ != State::More) return state_;
  // A last line without a newline: "." ends the message there too.
  if (dot_ends_input_ && isDotLine(std::string_view(data_).substr(line_start_))) {
    data_.resize(line_start_);
  }
  state_ = checkSize() == State::TooLarge ? State::TooLarge : State::Done;
  return state_;
}

Expected<Assembled> assembleMessage(std::string_view input, const AssemblyParams& params) {
  // Split into lines; a final line without a newline still counts.
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < input.size();) {
    auto nl = input.find('\n', start);
    auto line = input.substr(start, nl == std::string_view::npos ? nl : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  std::size_t next = 0;
  // An mbox "From " line (not a header field) is dropped, as sendmail and Postfix do.
  if (!lines.empty() && lines[0].substr(0, 5) == "From ") ++next;

  std::vector<Field> fields;
  for (; next < lines.size(); ++next) {
    const auto line = lines[next];
    if (!fields.empty() && !line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      fields.back().lines.push_back(line);
      continue;
    }
    const auto name_length = fieldNameLength(line);
    if (name_length == 0) break;  // the empty line, or the first body line
    fields.push_back(Field{line.substr(0, name_length), {line}});
  }
  if (next < lines.size() && lines[next].empty()) ++next;  // the separating empty line

  Assembled out;
  for (const auto& recipient : params.argument_recipients) {
    if (auto f = addRecipients(recipient, kExUsage, "command line", out.recipients)) return *f;
  }
  bool have_from = false, have_date = false, have_message_id = false;
  std::string header;
  for (const auto& field : fields) {
    const bool is_bcc = iequals(field.name, "Bcc");
    if (params.extract_recipients &&
        (is_bcc || iequals(field.name, "To") || iequals(field.name, "Cc"))) {
      if (auto f = addRecipients(unfold(field), kExDataErr, std::string(field.name) + " field",
                                 out.recipients)) {
        return *f;
      }
    }
    // Bcc never leaves in the message (Postfix's cleanup removes it too).
    if (is_bcc) continue;
    have_from = have_from || iequals(field.name, "From");
    have_date = have_date || iequals(field.name, "Date");
    have_message_id = have_message_id || iequals(field.name, "Message-ID");
    for (const auto line : field.lines) {
      header.append(line);
      header.append("\r\n");
    }
  }
  if (out.recipients.empty()) {
    return Failure{kExUsage, params.extract_recipients
                                 ? "no recipient addresses found in the message's To, Cc or Bcc "
                                   "fields or on the command line"
                                 : "no recipients given (name them as arguments or use -t)"};
  }
  // Without -f the sidecar adds From (with the sender the caller's profile names).
  if (!have_from && !params.from_address.empty()) {
    header.append("From: ");
    header.append(mailformat::mime::formatMailbox({params.full_name, params.from_address}));
    header.append("\r\n");
  }
  if (!have_date) header.append("Date: " + params.date + "\r\n");
  if (!have_message_id) header.append("Message-ID: " + params.message_id + "\r\n");

  std::size_t body_bytes = 0;
  for (std::size_t i = next; i < lines.size(); ++i) body_bytes += lines[i].size() + 2;
  out.message.reserve(header.size() + 2 + body_bytes);
  out.message.append(header);
  out.message.append("\r\n");
  for (; next < lines.size(); ++next) {
    out.message.append(lines[next]);
    out.message.append("\r\n");
  }
  return out;
}

}  // namespace sendmail
