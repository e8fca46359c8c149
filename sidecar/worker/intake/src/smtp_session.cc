// smtp_session.cc: the SMTP submission state machine (see smtp_session.h).
//
// SECURITY: untrusted input, consumed line by line with the limits in the header; a
// line ends only at CRLF, and anything else that looks like a line ending ends the
// session. Input is never echoed in replies except addresses that checkAddress passed.
// ERRORS: SMTP replies; no exceptions on client input.
#include "sidecar/intake/smtp_session.h"

#include <algorithm>
#include <charconv>

#include "mailformat/address.h"

namespace sidecar::intake {
namespace {

char upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return upper(x) == upper(y); });
}

bool istartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool hasNonAscii(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

struct Path {
  std::string address;
  std::vector<std::string_view> parameters;
};

// "<path> [SP param]*" after "FROM:" / "TO:". One space after the colon is tolerated
// (many clients send "MAIL FROM: <a@b>"). A source route "@a,@b:" is ignored, as
// RFC 5321 4.1.1.3 asks. nullopt when it is not an angle-bracketed path.
std::optional<Path> parsePath(std::string_view argument) {
  if (!argument.empty() && argument.front() == ' ') argument.remove_prefix(1);
  if (argument.empty() || argument.front() != '<') return std::nullopt;
  const auto close = argument.find('>');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view inside = argument.substr(1, close - 1);
  if (!inside.empty() && inside.front() == '@') {
    const auto colon = inside.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    inside.remove_prefix(colon + 1);
  }
  Path path;
  path.address = std::string(inside);
  std::string_view rest = argument.substr(close + 1);
  if (!rest.empty() && rest.front() != ' ') return std::nullopt;
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    const auto space = rest.find(' ');
    path.parameters.push_back(rest.substr(0, space));
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space);
  }
  return path;
}

SmtpReply make(int code, std::string enhanced, std::string text, bool close = false) {
  return SmtpReply{code, std::move(enhanced), std::move(text), close};
}

}  // namespace

std::string renderReply(const SmtpReply& reply) {
  constexpr std::size_t kMaxTextPerLine = 400;  // a reply line stays below 512 octets
  std::string out;
  std::string_view text = reply.text;
  const std::string code = std::to_string(reply.code);
  do {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.size() > kMaxTextPerLine) line = line.substr(0, kMaxTextPerLine);
    out += code;
    out += text.empty() ? ' ' : '-';
    if (!reply.enhanced.empty()) {
      out += reply.enhanced;
      if (!line.empty()) out += ' ';
    }
    for (const char c : line) {
      const auto u = static_cast<unsigned char>(c);
      out += (u < 0x20 || u == 0x7f) ? '?' : c;
    }
    out += "\r\n";
  } while (!text.empty());
  return out;
}

SmtpSession::SmtpSession(std::string host_name, SmtpLimits limits, SmtpPolicy& policy)
    : host_name_(std::move(host_name)), limits_(limits), policy_(policy) {}

void SmtpSession::greet(std::string& out) {
  reply(make(220, "", host_name_ + " ESMTP smtp-sidecar"), out);
}

void SmtpSession::refuse(const SmtpReply& refusal, std::string& out) {
  SmtpReply r = refusal;
  r.close = true;
  reply(r, out);
}

void SmtpSession::reply(const SmtpReply& r, std::string& out) {
  out += renderReply(r);
  if (r.close) {
    phase_ = Phase::Closed;
    next_ = Next::Close;
  }
}

void SmtpSession::error(int code, std::string enhanced, std::string text, std::string& out) {
  reply(make(code, std::move(enhanced), std::move(text)), out);
  if (++errors_ >= limits_.max_errors && phase_ != Phase::Closed) {
    reply(make(421, "4.7.0", host_name_ + " too many errors, closing the connection", true), out);
  }
}

void SmtpSession::junk(std::string& out) {
  if (++junk_ > limits_.max_junk_commands) {
    reply(make(421, "4.7.0", host_name_ + " too many commands without a message", true), out);
  }
}

void SmtpSession::resetTransaction() {
  mail_.reset();
  recipients_.clear();
  message_.clear();
  message_.shrink_to_fit();
  data_refusal_.clear();
  data_refusal_code_ = 0;
  discarding_line_ = false;
}

SmtpSession::Next SmtpSession::feed(std::string_view input, std::string& out) {
  if (phase_ == Phase::Closed) return next_;
  if (phase_ == Phase::Delivering) {
    // Pipelined input behind the message: kept (bounded) and processed after the answer.
    if (buffer_.size() + input.size() > limits_.max_buffered_bytes) {
      overflowed_ = true;
    } else {
      buffer_.append(input);
    }
    return next_;
  }
  buffer_.append(input);
  return process(out);
}

SmtpSession::Next SmtpSession::process(std::string& out) {
  std::size_t pos = 0;
  auto bareLineEnd = [&] {
    reply(make(521, "5.5.2", host_name_ + " bare CR or LF received: lines end with CRLF", true),
          out);
  };
  while (pos < buffer_.size() && (phase_ == Phase::Command || phase_ == Phase::Data)) {
    const std::string_view rest = std::string_view(buffer_).substr(pos);
    const auto lf = rest.find('\n');
    if (phase_ == Phase::Data && discarding_line_) {
      // The rest of an over-long data line: dropped, but still checked for line ends.
      if (lf == std::string_view::npos) {
        const auto cr = rest.find('\r');
        if (cr != std::string_view::npos && cr + 1 < rest.size()) return bareLineEnd(), next_;
        // Keep a trailing CR: its LF may come with the next chunk.
        pos = rest.back() == '\r' ? buffer_.size() - 1 : buffer_.size();
        break;
      }
      if (lf == 0 || rest[lf - 1] != '\r' ||
          rest.substr(0, lf - 1).find('\r') != std::string_view::npos) {
        return bareLineEnd(), next_;
      }
      discarding_line_ = false;
      pos += lf + 1;
      continue;
    }
    if (lf == std::string_view::npos) {
      const auto cr = rest.find('\r');
      if (cr != std::string_view::npos && cr + 1 < rest.size()) return bareLineEnd(), next_;
      if (phase_ == Phase::Command && rest.size() >= kMaxCommandLine) {
        reply(make(500, "5.5.2", "command line too long", true), out);
        return next_;
      }
      if (phase_ == Phase::Data && rest.size() > kMaxTextLine + 1) {
        if (data_refusal_.empty()) {
          data_refusal_code_ = 550;
          data_refusal_enhanced_ = "5.6.0";
          data_refusal_ = "a line of the message is longer than 998 octets";
        }
        message_.clear();
        discarding_line_ = true;
        continue;
      }
      break;  // an incomplete line: wait for more
    }
    const std::string_view line = rest.substr(0, lf);
    if (lf == 0 || line.back() != '\r' ||
        line.substr(0, lf - 1).find('\r') != std::string_view::npos) {
      return bareLineEnd(), next_;
    }
    const std::string_view content = line.substr(0, lf - 1);
    pos += lf + 1;
    if (phase_ == Phase::Command) {
      if (lf + 1 > kMaxCommandLine) {
        reply(make(500, "5.5.2", "command line too long", true), out);
        return next_;
      }
      command(content, out);
    } else {
      dataLine(content, out);
    }
  }
  buffer_.erase(0, std::min(pos, buffer_.size()));
  return next_;
}

void SmtpSession::command(std::string_view line, std::string& out) {
  const auto space = line.find(' ');
  const std::string_view verb = line.substr(0, space);
  const std::string_view argument =
      space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
  if (iequals(verb, "EHLO")) return ehlo(argument, true, out);
  if (iequals(verb, "HELO")) return ehlo(argument, false, out);
  if (iequals(verb, "MAIL")) {
    if (!istartsWith(argument, "FROM:"))
      return error(501, "5.5.4", "syntax: MAIL FROM:<address>", out);
    return mail(argument.substr(5), out);
  }
  if (iequals(verb, "RCPT")) {
    if (!istartsWith(argument, "TO:")) return error(501, "5.5.4", "syntax: RCPT TO:<address>", out);
    return rcpt(argument.substr(3), out);
  }
  if (iequals(verb, "DATA")) {
    if (!argument.empty()) return error(501, "5.5.4", "DATA takes no argument", out);
    return data(out);
  }
  if (iequals(verb, "RSET")) {
    resetTransaction();
    reply(make(250, "2.0.0", "Ok"), out);
    return junk(out);
  }
  if (iequals(verb, "NOOP")) {
    reply(make(250, "2.0.0", "Ok"), out);
    return junk(out);
  }
  if (iequals(verb, "QUIT")) return reply(make(221, "2.0.0", host_name_ + " closing", true), out);
  if (iequals(verb, "VRFY")) {
    reply(make(252, "2.5.0", "cannot VRFY; send the message and it will be tried"), out);
    return junk(out);
  }
  if (iequals(verb, "HELP")) {
    reply(make(214, "2.0.0", "commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY QUIT"), out);
    return junk(out);
  }
  if (iequals(verb, "STARTTLS") || iequals(verb, "AUTH")) {
    return error(502, "5.5.1",
                 "not offered: the sidecar knows its caller from the kernel, not from a login",
                 out);
  }
  if (iequals(verb, "BDAT")) {
    // Its chunk would follow as raw bytes; never read them as commands.
    return reply(make(502, "5.5.1", "BDAT (CHUNKING) is not offered", true), out);
  }
  error(500, "5.5.2", "command not recognized", out);
}

void SmtpSession::ehlo(std::string_view argument, bool extended, std::string& out) {
  if (argument.empty()) {
    return error(501, "5.5.4", std::string(extended ? "EHLO" : "HELO") + " needs a domain", out);
  }
  greeted_ = true;
  resetTransaction();
  if (!extended) {
    reply(make(250, "", host_name_), out);
  } else {
    reply(make(250, "",
               host_name_ + "\nSIZE " + std::to_string(limits_.max_message_bytes) +
                   "\nPIPELINING\n8BITMIME\nSMTPUTF8\nENHANCEDSTATUSCODES"),
          out);
  }
  junk(out);
}

void SmtpSession::mail(std::string_view argument, std::string& out) {
  if (!greeted_) return error(503, "5.5.1", "send EHLO first", out);
  if (mail_) return error(503, "5.5.1", "nested MAIL command", out);
  if (messages_ >= limits_.max_messages) {
    return reply(make(421, "4.7.0", host_name_ + " too many messages on one connection", true),
                 out);
  }
  auto path = parsePath(argument);
  if (!path) return error(501, "5.5.4", "syntax: MAIL FROM:<address>", out);
  if (auto problem = mailformat::checkAddress(path->address, /*allow_empty=*/true)) {
    return error(553, "5.1.7", "bad sender address: " + *problem, out);
  }
  MailCommand cmd;
  cmd.from = std::move(path->address);
  for (const auto parameter : path->parameters) {
    const auto eq = parameter.find('=');
    const auto key = parameter.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::string_view{} : parameter.substr(eq + 1);
    if (iequals(key, "SIZE") && eq != std::string_view::npos) {
      std::uint64_t size = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), size);
      if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
        return error(501, "5.5.4", "SIZE needs a number", out);
      }
      cmd.declared_size = size;
    } else if (iequals(key, "BODY") && (iequals(value, "7BIT") || iequals(value, "8BITMIME"))) {
      cmd.eight_bit = iequals(value, "8BITMIME");
    } else if (iequals(parameter, "SMTPUTF8")) {
      cmd.smtputf8 = true;
    } else {
      return error(555, "5.5.4", "unsupported MAIL parameter", out);
    }
  }
  if (hasNonAscii(cmd.from) && !cmd.smtputf8) {
    return error(553, "5.6.7", "a non-ASCII sender address needs SMTPUTF8", out);
  }
  if (cmd.declared_size && *cmd.declared_size > limits_.max_message_bytes) {
    return reply(
        make(552, "5.3.4",
             "the message is larger than " + std::to_string(limits_.max_message_bytes) + " bytes"),
        out);
  }
  if (auto refusal = policy_.mail(cmd)) return reply(*refusal, out);
  mail_ = std::move(cmd);
  junk_ = 0;
  reply(make(250, "2.1.0", "Ok"), out);
}

void SmtpSession::rcpt(std::string_view argument, std::string& out) {
  if (!mail_) return error(503, "5.5.1", "send MAIL first", out);
  auto path = parsePath(argument);
  if (!path) return error(501, "5.5.4", "syntax: RCPT TO:<address>", out);
  if (!path->parameters.empty()) return error(555, "5.5.4", "unsupported RCPT parameter", out);
  const std::string& to = path->address;
  if (to.find('@') != std::string::npos) {
    if (auto problem = mailformat::checkAddress(to, /*allow_empty=*/false)) {
      return error(553, "5.1.3", "bad recipient address: " + *problem, out);
    }
  } else if (!mailformat::isLocalName(to)) {
    return error(553, "5.1.3", "bad recipient address", out);
  }
  if (hasNonAscii(to) && !mail_->smtputf8) {
    return error(553, "5.6.7", "a non-ASCII recipient address needs SMTPUTF8", out);
  }
  if (recipients_.size() >= limits_.max_recipients) {
    return reply(make(452, "4.5.3",
                      "too many recipients: at most " + std::to_string(limits_.max_recipients)),
                 out);
  }
  auto decided = policy_.rcpt(to, recipients_.size());
  if (auto* refusal = std::get_if<SmtpReply>(&decided)) return reply(*refusal, out);
  recipients_.push_back(std::move(std::get<std::string>(decided)));
  reply(make(250, "2.1.5", "Ok"), out);
}

void SmtpSession::data(std::string& out) {
  if (!mail_) return error(503, "5.5.1", "send MAIL first", out);
  if (recipients_.empty()) return error(554, "5.5.1", "no valid recipients", out);
  phase_ = Phase::Data;
  message_.clear();
  if (mail_->declared_size) {
    message_.reserve(static_cast<std::size_t>(
        std::min<std::uint64_t>(*mail_->declared_size, limits_.max_message_bytes)));
  }
  reply(make(354, "", "End data with <CR><LF>.<CR><LF>"), out);
}

void SmtpSession::dataLine(std::string_view line, std::string& out) {
  if (line == ".") return endOfData(out);
  if (!line.empty() && line.front() == '.') line.remove_prefix(1);  // RFC 5321 4.5.2
  if (!data_refusal_.empty()) return;                               // read to the end, drop
  if (line.size() > kMaxTextLine) {
    data_refusal_code_ = 550;
    data_refusal_enhanced_ = "5.6.0";
    data_refusal_ = "a line of the message is longer than 998 octets";
  } else if (line.find('\0') != std::string_view::npos) {
    data_refusal_code_ = 550;
    data_refusal_enhanced_ = "5.6.0";
    data_refusal_ = "the message contains a NUL byte";
  } else if (message_.size() + line.size() + 2 > limits_.max_message_bytes) {
    data_refusal_code_ = 552;
    data_refusal_enhanced_ = "5.3.4";
    data_refusal_ =
        "the message is larger than " + std::to_string(limits_.max_message_bytes) + " bytes";
  } else {
    message_.append(line);
    message_.append("\r\n");
    return;
  }
  message_.clear();
  message_.shrink_to_fit();
}

void SmtpSession::endOfData(std::string& out) {
  if (!data_refusal_.empty()) {
    phase_ = Phase::Command;
    reply(make(data_refusal_code_, data_refusal_enhanced_, data_refusal_), out);
    return resetTransaction();
  }
  delivery_ = Delivery{std::move(*mail_), std::move(recipients_), std::move(message_)};
  resetTransaction();
  phase_ = Phase::Delivering;
  next_ = Next::Deliver;
}

Delivery SmtpSession::takeDelivery() {
  Delivery d = std::move(delivery_.value());
  delivery_.reset();
  return d;
}

SmtpSession::Next SmtpSession::delivered(const SmtpReply& answer, std::string& out) {
  if (phase_ != Phase::Delivering) return next_;
  delivery_.reset();
  if (answer.code >= 200 && answer.code < 300) ++messages_;
  phase_ = Phase::Command;
  next_ = Next::Read;
  reply(answer, out);
  if (phase_ == Phase::Closed) return next_;
  if (overflowed_) {
    reply(make(421, "4.7.0", host_name_ + " too much pipelined input, closing", true), out);
    return next_;
  }
  return process(out);
}

void SmtpSession::timedOut(std::string& out) {
  if (phase_ == Phase::Closed) return;
  reply(make(421, "4.4.2", host_name_ + " timeout, closing the connection", true), out);
}

void SmtpSession::shuttingDown(std::string& out) {
  if (phase_ == Phase::Closed) return;
  reply(make(421, "4.3.2", host_name_ + " shutting down, try again later", true), out);
}

std::string withoutBcc(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  std::size_t pos = 0;
  bool dropping = false;
  while (pos < message.size()) {
    auto eol = message.find('\n', pos);
    const std::size_t next = eol == std::string_view::npos ? message.size() : eol + 1;
    std::string_view line = message.substr(pos, next - pos);
    std::string_view bare = line;
    while (!bare.empty() && (bare.back() == '\n' || bare.back() == '\r')) bare.remove_suffix(1);
    if (bare.empty()) {  // the end of the header section: the rest is the body
      out.append(message.substr(pos));
      return out;
    }
    const bool continuation = bare.front() == ' ' || bare.front() == '\t';
    if (!continuation) {
      const auto colon = bare.find(':');
      std::string_view name = bare.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      dropping = colon != std::string_view::npos && iequals(name, "Bcc");
    }
    if (!dropping) out.append(line);
    pos = next;
  }
  return out;
}

}  // namespace sidecar::intake
