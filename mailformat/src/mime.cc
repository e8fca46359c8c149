// mime.cc: MIME message construction (see mime.h).
//
// SECURITY: every header value is emitted through encodeHeaderText/formatMailbox and
// every body through quoted-printable or base64, so no input byte can end a header line
// or start a new MIME part. Boundaries are derived from a random seed and checked
// against the content they separate.
// ERRORS: none.
#include "mailformat/mime.h"

#include <sodium.h>

#include <algorithm>
#include <ctime>

namespace mailformat::mime {
namespace {

constexpr std::size_t kMaxHeaderLine = 76;  // RFC 2047 2: encoded lines <= 76 columns

bool isPlainAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
}

// Length of the UTF-8 sequence that starts with `lead` (1 for invalid leads, so
// malformed input still advances and is encoded byte by byte).
std::size_t utf8SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

// Characters that force a display name into a quoted-string (RFC 5322 3.2.3 specials).
bool needsQuoting(std::string_view name) {
  return name.find_first_of("()<>[]:;@\\,.\"") != std::string_view::npos;
}

std::string quoteString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// A text part: quoted-printable unless it is short-lined 7-bit text.
std::string textPart(std::string_view subtype, std::string_view body) {
  bool seven_bit = true;
  std::size_t line = 0;
  for (char c : body) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      line = 0;
      continue;
    }
    if (u >= 0x80 || (u < 0x20 && c != '\r' && c != '\t') || ++line > 76) {
      seven_bit = false;
      break;
    }
  }
  std::string out = "Content-Type: text/" + std::string(subtype) + "; charset=utf-8\r\n";
  if (seven_bit) {
    out += "Content-Transfer-Encoding: 7bit\r\n\r\n";
    // Normalise line endings to CRLF.
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r'))
        out += "\r\n";
      else
        out.push_back(body[i]);
    }
    if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  } else {
    out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
    out += quotedPrintable(body);
  }
  return out;
}

std::string attachmentPart(const Attachment& a) {
  std::string out = "Content-Type: " + a.content_type + "\r\n";
  const std::string prefix = "Content-Disposition: attachment; filename=";
  if (isPlainAscii(a.filename) && a.filename.find_first_of("\"\\") == std::string::npos &&
      prefix.size() + a.filename.size() + 2 <= 998) {
    out += prefix + "\"" + a.filename + "\"\r\n";
  } else {
    // RFC 2231 extended parameter for non-ASCII file names.
    out += "Content-Disposition: attachment;\r\n filename*=utf-8''";
    static const char* hex = "0123456789ABCDEF";
    std::size_t col = 19;
    for (const char ch : a.filename) {
      const auto c = static_cast<unsigned char>(ch);
      std::string piece;
      if (std::isalnum(c) || c == '.' || c == '-' || c == '_') {
        piece.push_back(static_cast<char>(c));
      } else {
        piece = {'%', hex[c >> 4], hex[c & 15]};
      }
      out += piece;
      col += piece.size();
      if (col > 900) break;  // absurdly long names are cut rather than over-long lines
    }
    out += "\r\n";
  }
  out += "Content-Transfer-Encoding: base64\r\n\r\n";
  out += base64Lines(a.content);
  return out;
}

// Joins parts into a multipart body with a boundary that none of them contains.
std::string multipart(std::string_view subtype, const std::vector<std::string>& parts,
                      const std::string& seed, int depth, std::string& header_out) {
  std::string boundary = "=_" + seed + "_" + std::to_string(depth);
  // A collision with random text is all but impossible; make it impossible.
  while (std::any_of(parts.begin(), parts.end(),
                     [&](const std::string& p) { return p.find(boundary) != std::string::npos; })) {
    boundary += "x";
  }
  header_out =
      "Content-Type: multipart/" + std::string(subtype) + ";\r\n boundary=\"" + boundary + "\"\r\n";
  std::string body = "This is a multi-part message in MIME format.\r\n";
  for (const auto& part : parts) {
    body += "\r\n--" + boundary + "\r\n" + part;
  }
  body += "\r\n--" + boundary + "--\r\n";
  return body;
}

// Splits "Content-Type: ...\r\n...\r\n\r\nbody" into the header block and the body.
std::pair<std::string, std::string> splitPart(const std::string& part) {
  const auto end = part.find("\r\n\r\n");
  return {part.substr(0, end + 2), part.substr(end + 4)};
}

std::string addressList(const std::vector<Mailbox>& list, std::size_t header_len) {
  std::string out;
  std::size_t col = header_len;
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string item = formatMailbox(list[i]);
    if (i + 1 < list.size()) item += ",";
    if (i > 0) {
      if (col + 1 + item.size() > kMaxHeaderLine) {
        out += "\r\n ";
        col = 1;
      } else {
        out += " ";
        ++col;
      }
    }
    out += item;
    const auto last_nl = item.rfind('\n');
    col = last_nl == std::string::npos ? col + item.size() : item.size() - last_nl - 1;
  }
  return out;
}

}  // namespace

std::string base64(std::string_view bytes) {
  if (bytes.empty()) return {};
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // drop the NUL sodium writes
  return out;
}

bool base64Decode(std::string_view in, std::string& out) {
  out.resize(in.size() / 4 * 3 + 3);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), " \t\r\n", &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != in.data() + in.size()) {
    out.clear();
    return false;
  }
  out.resize(len);
  return true;
}

std::string base64Lines(std::string_view bytes) {
  const std::string encoded = base64(bytes);
  std::string out;
  out.reserve(encoded.size() + encoded.size() / 76 * 2 + 2);
  for (std::size_t i = 0; i < encoded.size(); i += 76) {
    out.append(encoded, i, 76);
    out += "\r\n";
  }
  return out;
}

std::string quotedPrintable(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  std::size_t col = 0;
  auto emit = [&](std::string_view piece) {
    if (col + piece.size() > 75) {  // 76 with the soft-break '='
      out += "=\r\n";
      col = 0;
    }
    out += piece;
    col += piece.size();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;  // CRLF via '\n'
    if (c == '\n') {
      out += "\r\n";
      col = 0;
      continue;
    }
    const bool at_line_end = i + 1 == text.size() || text[i + 1] == '\n' || text[i + 1] == '\r';
    const bool literal =
        (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
    // A leading '.' is left to SMTP dot-stuffing; a leading "From " is harmless in MIME.
    if (literal) {
      const char ch = static_cast<char>(c);
      emit(std::string_view(&ch, 1));
    } else {
      const char enc[3] = {'=', hex[c >> 4], hex[c & 15]};
      emit(std::string_view(enc, 3));
    }
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

std::string encodeHeaderText(std::string_view value, std::size_t first_line_used) {
  if (isPlainAscii(value) && value.find("=?") == std::string_view::npos &&
      first_line_used + value.size() <= 998 - 2) {
    // Fold long ASCII values at spaces to keep lines readable (RFC 5322 2.2.3).
    std::string out;
    std::size_t col = first_line_used;
    std::size_t start = 0;
    while (start < value.size()) {
      auto space = value.find(' ', start + 1);
      if (space == std::string_view::npos) space = value.size();
      const auto word = value.substr(start, space - start);
      if (col + word.size() > kMaxHeaderLine && !out.empty() && word.front() == ' ') {
        out += "\r\n";
        col = 0;
      }
      out += word;
      col += word.size();
      start = space;
    }
    return out;
  }
  // Encoded words "=?utf-8?B?" + base64 + "?=" (12 characters of syntax), each sized to
  // the room left on its line and holding whole UTF-8 characters, so that no folded
  // line exceeds 76 columns and no character is split between two words.
  constexpr std::size_t kSyntax = 12;
  constexpr std::size_t kMinWord = kSyntax + 8;  // two base64 groups: room for 1+ char
  std::string out;
  std::size_t col = first_line_used;
  std::size_t i = 0;
  while (i < value.size()) {
    std::size_t room = kMaxHeaderLine > col + 1 ? kMaxHeaderLine - col - 1 : 0;
    if (room < kMinWord) {
      out += "\r\n ";
      col = 1;
      room = kMaxHeaderLine - 1;
    } else if (i > 0) {
      out += " ";
      ++col;
    }
    const std::size_t max_raw = (room - kSyntax) / 4 * 3;
    std::size_t end = i;
    while (end < value.size()) {
      const std::size_t len = utf8SequenceLength(static_cast<unsigned char>(value[end]));
      if (end + len - i > max_raw) break;
      end += std::min(len, value.size() - end);
    }
    if (end == i) end = i + 1;  // cannot happen: kMinWord leaves room for 6 bytes
    const std::string word = "=?utf-8?B?" + base64(value.substr(i, end - i)) + "?=";
    out += word;
    col += word.size();
    i = end;
  }
  return out;
}

std::string formatMailbox(const Mailbox& mailbox) {
  if (mailbox.name.empty()) return "<" + mailbox.address + ">";
  std::string name;
  if (!isPlainAscii(mailbox.name)) {
    name = encodeHeaderText(mailbox.name, 10);  // as if after "From: " or "To: "
  } else if (needsQuoting(mailbox.name)) {
    name = quoteString(mailbox.name);
  } else {
    name = mailbox.name;
  }
  return name + " <" + mailbox.address + ">";
}

std::string formatDate(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
                tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string build(const Message& m, const BuildOptions& options) {
  std::string headers;
  headers += "Date: " + formatDate(options.date) + "\r\n";
  headers += "From: " + formatMailbox(m.from) + "\r\n";
  if (!m.to.empty()) headers += "To: " + addressList(m.to, 4) + "\r\n";
  if (!m.cc.empty()) headers += "Cc: " + addressList(m.cc, 4) + "\r\n";
  if (!m.reply_to.empty()) headers += "Reply-To: " + addressList(m.reply_to, 10) + "\r\n";
  headers += "Subject: " + encodeHeaderText(m.subject, 9) + "\r\n";
  headers += "Message-ID: <" + options.message_id + ">\r\n";
  for (const auto& [name, value] : m.extra_headers) {
    headers += name + ": " + encodeHeaderText(value, name.size() + 2) + "\r\n";
  }
  headers += "MIME-Version: 1.0\r\n";

  // The body: text, html, or both as alternatives; then attachments around it.
  std::string content;  // a part with its own Content-* headers, blank line, body
  if (!m.text.empty() && !m.html.empty()) {
    std::string type_header;
    const std::string body =
        multipart("alternative", {textPart("plain", m.text), textPart("html", m.html)},
                  options.boundary_seed, 1, type_header);
    content = type_header + "\r\n" + body;
  } else if (!m.html.empty()) {
    content = textPart("html", m.html);
  } else {
    content = textPart("plain", m.text);
  }
  if (!m.attachments.empty()) {
    std::vector<std::string> parts{content};
    for (const auto& a : m.attachments) parts.push_back(attachmentPart(a));
    std::string type_header;
    const std::string body = multipart("mixed", parts, options.boundary_seed, 0, type_header);
    content = type_header + "\r\n" + body;
  }
  const auto [part_headers, part_body] = splitPart(content);
  return headers + part_headers + "\r\n" + part_body;
}

}  // namespace mailformat::mime
