// smtp_session.h: the SMTP submission protocol (RFC 5321, with RFC 1870 SIZE, RFC 2920
// PIPELINING, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC 2034 ENHANCEDSTATUSCODES) as a
// pure state machine: client bytes in, reply bytes and events out. No I/O, no clock:
// the server (smtp_server.h) and `smtp-sidecar-sendmail -bs` drive it, and tests feed it
// byte strings.
//
// SECURITY: every byte comes from an untrusted local client. Limits bound what is held:
// a command line (kMaxCommandLine), a text line of the message (998 octets + CRLF), the
// message (SIZE), recipients, messages and bad commands per connection, and the input
// buffered while a message is being delivered. Only CRLF ends a line: a bare CR or LF
// anywhere ends the session with 521 (as Postfix's smtpd_forbid_bare_newline), so no
// line ending that another SMTP implementation reads differently can smuggle a command
// or a second message ("SMTP smuggling"). The end of DATA is exactly CRLF "." CRLF.
// Addresses go through submit::checkAddress (no CR/LF/NUL, bounded); what the profile
// allows is decided by the SmtpPolicy the server passes in (submission_policy.h).
// ERRORS: every refusal is an SMTP reply with an enhanced status code; nothing throws
// on client input.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sidecar::intake {

// RFC 5321 4.5.3.1.4 allows 512 octets for a command line; SMTPUTF8 addresses and
// ESMTP parameters make real lines longer, so allow what a text line may hold.
inline constexpr std::size_t kMaxCommandLine = 1000;  // with CRLF
// RFC 5322 2.1.1: at most 998 characters before the CRLF.
inline constexpr std::size_t kMaxTextLine = 998;
// RFC 5321 4.5.3.2.7: the server waits 5 minutes for each command and each data block.
inline constexpr std::chrono::seconds kServerTimeout{300};

struct SmtpLimits {
  std::size_t max_message_bytes = std::size_t{25} << 20;  // the message after unstuffing
  std::size_t max_recipients = 100;                       // absolute cap per message
  std::size_t max_messages = 1000;                        // per connection
  std::size_t max_errors = 10;                            // bad commands before 421 and close
  std::size_t max_junk_commands = 100;                    // NOOP, RSET, VRFY, HELP, EHLO...
  std::size_t max_buffered_bytes = 256 * 1024;            // pipelined input held during a delivery
};

struct SmtpReply {
  int code = 0;
  std::string enhanced;  // "2.0.0"; empty only for 220/221 greetings without one
  std::string text;      // lines separated by '\n'; each becomes one reply line
  bool close = false;    // the session ends after this reply
};

// "250-first\r\n250 2.0.0 last\r\n": the wire form. Control characters in `text`
// become '?' so that nothing (an upstream reply quoted back) breaks the framing.
std::string renderReply(const SmtpReply& reply);

struct MailCommand {
  std::string from;                            // "" for the null reverse-path <>
  std::optional<std::uint64_t> declared_size;  // SIZE=
  bool eight_bit = false;                      // BODY=8BITMIME
  bool smtputf8 = false;                       // SMTPUTF8
};

// What the profile allows, asked at MAIL and RCPT (pure decisions, answered at once).
class SmtpPolicy {
 public:
  virtual ~SmtpPolicy() = default;
  // nullopt accepts the sender; otherwise the refusal (550 5.7.1, 552 5.3.4, 451 4.7.1).
  virtual std::optional<SmtpReply> mail(const MailCommand& mail) = 0;
  // The address the recipient is delivered to (an alias may rewrite a local name such
  // as "root"), or the refusal. `accepted` recipients were accepted before it.
  virtual std::variant<std::string, SmtpReply> rcpt(std::string_view recipient,
                                                    std::size_t accepted) = 0;
};

// A complete message: what the server hands to the dispatcher.
struct Delivery {
  MailCommand mail;
  std::vector<std::string> recipients;  // as the policy resolved them
  std::string message;                  // CRLF line endings, dot-unstuffed
};

class SmtpSession {
 public:
  enum class Next {
    Read,     // feed more input
    Deliver,  // takeDelivery(), then delivered() with the outcome
    Close,    // write what is in `out`, then close the connection
  };

  SmtpSession(std::string host_name, SmtpLimits limits, SmtpPolicy& policy);

  // The 220 greeting.
  void greet(std::string& out);
  // The connection may not send at all (no profile, peer unknown): 554 and close.
  void refuse(const SmtpReply& reply, std::string& out);

  // Consumes client bytes (any chunking) and appends the replies to `out`. While a
  // delivery is pending, input is only buffered (up to max_buffered_bytes).
  Next feed(std::string_view input, std::string& out);
  Delivery takeDelivery();
  // The answer after DATA; then the buffered input is processed.
  Next delivered(const SmtpReply& reply, std::string& out);
  // No command within timeout(): 421 4.4.2 and close.
  void timedOut(std::string& out);
  // The sidecar is stopping: 421 4.3.2 and close (never during a delivery).
  void shuttingDown(std::string& out);

  Next next() const noexcept { return next_; }
  bool inData() const noexcept { return phase_ == Phase::Data; }
  std::size_t messagesAccepted() const noexcept { return messages_; }

 private:
  enum class Phase { Command, Data, Delivering, Closed };

  Next process(std::string& out);
  void command(std::string_view line, std::string& out);
  void dataLine(std::string_view line, std::string& out);
  void endOfData(std::string& out);
  void ehlo(std::string_view argument, bool extended, std::string& out);
  void mail(std::string_view argument, std::string& out);
  void rcpt(std::string_view argument, std::string& out);
  void data(std::string& out);
  void reply(const SmtpReply& reply, std::string& out);
  void error(int code, std::string enhanced, std::string text, std::string& out);
  void junk(std::string& out);
  void resetTransaction();

  std::string host_name_;
  SmtpLimits limits_;
  SmtpPolicy& policy_;
  Phase phase_ = Phase::Command;
  Next next_ = Next::Read;
  std::string buffer_;  // input not yet processed
  bool greeted_ = false;
  bool overflowed_ = false;  // too much input while delivering
  std::size_t errors_ = 0;
  std::size_t junk_ = 0;
  std::size_t messages_ = 0;
  // The transaction.
  std::optional<MailCommand> mail_;
  std::vector<std::string> recipients_;
  std::string message_;
  std::string data_refusal_;  // why the message will be refused at its end ("" = fine)
  int data_refusal_code_ = 0;
  std::string data_refusal_enhanced_;
  bool discarding_line_ = false;  // inside a data line longer than the limit
  std::optional<Delivery> delivery_;
};

// The header section without its Bcc fields (RFC 6409 8.1 lets a submission server
// remove them; Postfix's cleanup does for sendmail -t). The body is untouched.
std::string withoutBcc(std::string_view message);

}  // namespace sidecar::intake
