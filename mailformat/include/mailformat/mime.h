// mime.h: building an RFC 5322 / MIME (RFC 2045-2047) message from structured parts.
//
// SECURITY: inputs were checked by submit_json (addresses, header names and values
// without CR/LF/NUL); this module still never emits a raw line break from a value:
// every value goes through an encoder (encoded words, quoted-printable, base64), so
// header injection is impossible by construction.
// ERRORS: none; inputs are valid by the time they get here.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mailformat::mime {

struct Mailbox {
  std::string name;     // display name, UTF-8, may be empty
  std::string address;  // local@domain, already checked
};

struct Attachment {
  std::string filename;      // UTF-8
  std::string content_type;  // type/subtype, already checked
  std::string content;       // decoded bytes
};

struct Message {
  Mailbox from;
  std::vector<Mailbox> to, cc;  // bcc never appears in the message, only the envelope
  std::vector<Mailbox> reply_to;
  std::string subject;  // UTF-8
  std::string text;     // UTF-8 plain-text body, may be empty
  std::string html;     // UTF-8 HTML body, may be empty
  std::vector<std::pair<std::string, std::string>> extra_headers;  // checked names/values
  std::vector<Attachment> attachments;
};

struct BuildOptions {
  std::chrono::system_clock::time_point date;
  std::string message_id;     // without angle brackets: "random@domain"
  std::string boundary_seed;  // random text; boundaries are derived from it
};

// The whole message, CRLF line endings, no line longer than 998 octets.
std::string build(const Message& message, const BuildOptions& options);

// RFC 2047 "B" encoded words for a header value if it is not plain ASCII (or would be
// mistaken for one); `first_line_used` is how many columns the header name took. The
// result is folded so no line exceeds 76 columns.
std::string encodeHeaderText(std::string_view value, std::size_t first_line_used);

// "Name <address>" with the name quoted or encoded as needed.
std::string formatMailbox(const Mailbox& mailbox);

// RFC 5322 3.3 date-time, e.g. "Sun, 22 Nov 2026 14:09:22 +0000".
std::string formatDate(std::chrono::system_clock::time_point when);

// Base64 in lines of 76 characters, each ending in CRLF (RFC 2045 6.8).
std::string base64Lines(std::string_view bytes);
// Quoted-printable (RFC 2045 6.7) with CRLF line breaks kept as line breaks.
std::string quotedPrintable(std::string_view text);

std::string base64(std::string_view bytes);
// Decodes standard base64 (padding required, whitespace ignored). False on bad input.
bool base64Decode(std::string_view in, std::string& out);

}  // namespace mailformat::mime
