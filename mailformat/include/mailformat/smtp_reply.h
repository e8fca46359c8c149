// smtp_reply.h: parsing of the SMTP server's replies (RFC 5321 4.2).
//
// SECURITY: untrusted input from the SMTP server (or whatever answers on its port).
// Pure code with fixed limits: a reply line longer than kMaxReplyLine or a reply with
// more than kMaxReplyLines lines is cut, never buffered without bound. Only server
// bytes are fed in here; what the client sends (AUTH with the password) never is.
// ERRORS: malformed lines are recorded as code 0 ("unparseable reply"), not thrown.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailformat {

// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including CRLF.
inline constexpr std::size_t kMaxReplyLine = 512;
// Multi-line replies (EHLO) have a handful of lines; more is not a reply we keep.
inline constexpr std::size_t kMaxReplyLines = 64;

struct SmtpReply {
  int code = 0;      // 0 when nothing parseable was received
  std::string text;  // lines joined by "\n", without the codes; bounded
  bool isPositive() const noexcept { return code >= 200 && code < 400; }
  bool isTransient() const noexcept { return code >= 400 && code < 500; }
  bool isPermanent() const noexcept { return code >= 500 && code < 600; }
};

struct ReplyLine {
  int code;
  bool last;  // "250 " (last) versus "250-" (more follow)
  std::string_view text;
};

// Parses one line without its CRLF. nullopt if it is not "DDD[ -]text" or "DDD".
std::optional<ReplyLine> parseReplyLine(std::string_view line);

// The server's answer to one RCPT TO.
struct RecipientReply {
  std::string address;
  SmtpReply reply;
};

// Accumulates server bytes (in whatever chunks they arrive) and remembers the last
// complete reply, and the reply to each RCPT TO announced with expectRecipient().
class ReplyCollector {
 public:
  void feed(std::string_view bytes);
  // The client just sent "RCPT TO:<address>": the next complete reply belongs to it.
  void expectRecipient(std::string address) { pending_recipient_ = std::move(address); }
  const std::vector<RecipientReply>& recipients() const noexcept { return recipients_; }
  const SmtpReply& last() const noexcept { return last_; }
  // The last 4xx/5xx reply, if any: after a failure the client still says QUIT, so the
  // reply that explains the failure is not the last one.
  const SmtpReply& lastFailure() const noexcept { return last_failure_; }
  // How many replies have ended so far (an unparseable line ends one, with code 0): a
  // client that pipelines counts them to pair each reply with its command.
  std::size_t completed() const noexcept { return completed_; }

 private:
  void completeLine(std::string_view line);
  std::string partial_line_;
  bool partial_overflow_ = false;
  SmtpReply current_;
  std::size_t current_lines_ = 0;
  SmtpReply last_;
  SmtpReply last_failure_;
  std::optional<std::string> pending_recipient_;
  std::vector<RecipientReply> recipients_;
  std::size_t completed_ = 0;
};

}  // namespace mailformat
