// message.h: turning what the caller writes on stdin into a message and an envelope.
//
// SECURITY: stdin is the caller's data; it becomes mail that leaves the host under
// the sidecar's credential. Pure code with limits: at most max_message_bytes are
// kept, at most kMaxRecipients recipients, and every address (arguments and -t
// headers) is checked with the sidecar's own checkAddress, so nothing reaches the
// envelope that the sidecar would not accept. Values we add to the header (From with
// -F, Date, Message-ID) come from checked options and go through mailformat::mime::formatMailbox,
// which encodes them: no line break can be injected.
// ERRORS: Failure: kExDataErr (65) for a message that is too large or carries bad
// header addresses, kExUsage (64) for bad or missing recipients on the command line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "sendmail/failure.h"

namespace sendmail {

// Collects stdin in chunks. Without -i a line holding only "." ends the message (as
// with sendmail and Postfix); the dot line and anything after it are dropped and no
// more input needs to be read. Lines starting with ".." are kept as they are (Postfix
// does not un-stuff them either).
class InputCollector {
 public:
  enum class State { More, Done, TooLarge };

  InputCollector(bool dot_ends_input, std::size_t max_bytes);

  // Adds a chunk; Done once the dot line was seen, TooLarge past max_bytes.
  State feed(std::string_view chunk);
  // End of input.
  State finish();
  std::string take() { return std::move(data_); }

 private:
  bool checkDotLine(std::size_t end);
  State checkSize();

  std::string data_;
  std::size_t line_start_ = 0;
  bool dot_ends_input_;
  std::size_t max_bytes_;
  State state_ = State::More;
};

struct AssemblyParams {
  bool extract_recipients = false;               // -t
  std::vector<std::string> argument_recipients;  // as given on the command line
  std::string from_address;  // for a From header we add (checked address); empty: none
  std::string full_name;     // -F: display name for that From header, may be empty
  std::string date;          // value for a Date header we add
  std::string message_id;    // value for a Message-ID header we add, with <>
};

struct Assembled {
  std::string message;                  // CRLF line endings, header + empty line + body
  std::vector<std::string> recipients;  // envelope recipients, deduplicated, checked
};

// Normalises line endings (bare LF -> CRLF), drops a leading mbox "From " line,
// separates header and body (a first line that is not a header field starts the
// body), removes Bcc fields, adds From / Date / Message-ID when missing, and
// resolves the envelope recipients (arguments, plus To/Cc/Bcc with -t).
Expected<Assembled> assembleMessage(std::string_view input, const AssemblyParams& params);

}  // namespace sendmail
