// smtp_reply.cc: SMTP reply parsing (see smtp_reply.h).
//
// SECURITY: untrusted server input; bounded buffers only.
// ERRORS: unparseable lines produce code 0 replies.
#include "mailformat/smtp_reply.h"

namespace mailformat {

std::optional<ReplyLine> parseReplyLine(std::string_view line) {
  if (line.size() < 3 || line.size() > kMaxReplyLine) return std::nullopt;
  for (int i = 0; i < 3; ++i) {
    if (line[static_cast<std::size_t>(i)] < '0' || line[static_cast<std::size_t>(i)] > '9') {
      return std::nullopt;
    }
  }
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (code < 200 || code > 599) return std::nullopt;  // RFC 5321 4.2.1: 2yz..5yz
  if (line.size() == 3) return ReplyLine{code, true, {}};
  if (line[3] != ' ' && line[3] != '-') return std::nullopt;
  return ReplyLine{code, line[3] == ' ', line.substr(4)};
}

void ReplyCollector::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (c == '\n') {
      std::string_view line(partial_line_);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (partial_overflow_) line = {};  // an over-long line is not a valid reply line
      completeLine(line);
      partial_line_.clear();
      partial_overflow_ = false;
    } else if (partial_line_.size() < kMaxReplyLine) {
      partial_line_.push_back(c);
    } else {
      partial_overflow_ = true;
    }
  }
}

void ReplyCollector::completeLine(std::string_view line) {
  const auto parsed = parseReplyLine(line);
  if (!parsed) {
    last_ = SmtpReply{0, "unparseable reply from server"};
    ++completed_;
    current_ = {};
    current_lines_ = 0;
    return;
  }
  if (current_lines_ > 0 && parsed->code != current_.code) {
    // RFC 5321 4.2.1: every line of a multi-line reply carries the same code.
    last_ = SmtpReply{0, "inconsistent multi-line reply from server"};
    ++completed_;
    current_ = {};
    current_lines_ = 0;
    return;
  }
  current_.code = parsed->code;
  if (current_lines_ < kMaxReplyLines) {
    if (current_lines_ > 0) current_.text.push_back('\n');
    current_.text.append(parsed->text);
  }
  ++current_lines_;
  if (parsed->last) {
    if (current_.code >= 400) last_failure_ = current_;
    if (pending_recipient_ && recipients_.size() < 1024) {
      recipients_.push_back({std::move(*pending_recipient_), current_});
      pending_recipient_.reset();
    }
    last_ = std::move(current_);
    ++completed_;
    current_ = {};
    current_lines_ = 0;
  }
}

}  // namespace mailformat
