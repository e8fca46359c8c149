// smtp_session_fuzz.cc: libFuzzer target for the SMTP submission state machine. The
// first byte picks the chunk size the input is fed in; every delivery is answered 250.
// Invariants: the session never hands out a message holding a bare CR or LF, nor one
// over the size limit, and every reply line is CRLF-terminated "DDD[ -]".
#include <cstdint>
#include <string>
#include <string_view>

#include "sidecar/intake/smtp_session.h"

namespace {

class AcceptAll final : public sidecar::intake::SmtpPolicy {
 public:
  std::optional<sidecar::intake::SmtpReply> mail(const sidecar::intake::MailCommand&) override {
    return std::nullopt;
  }
  std::variant<std::string, sidecar::intake::SmtpReply> rcpt(std::string_view to,
                                                             std::size_t) override {
    return std::string(to);
  }
};

void checkMessage(const std::string& m, std::size_t limit) {
  if (m.size() > limit) __builtin_trap();
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) __builtin_trap();
    if (m[i] == '\r' && (i + 1 == m.size() || m[i + 1] != '\n')) __builtin_trap();
  }
}

void checkReplies(const std::string& out) {
  std::size_t pos = 0;
  while (pos < out.size()) {
    const auto eol = out.find("\r\n", pos);
    if (eol == std::string::npos || eol - pos < 4) __builtin_trap();
    for (std::size_t i = pos; i < pos + 3; ++i) {
      if (out[i] < '0' || out[i] > '9') __builtin_trap();
    }
    if (out[pos + 3] != ' ' && out[pos + 3] != '-') __builtin_trap();
    if (out.substr(pos, eol - pos).find_first_of("\r\n") != std::string::npos) __builtin_trap();
    pos = eol + 2;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  AcceptAll policy;
  sidecar::intake::SmtpLimits limits;
  limits.max_message_bytes = 4096;
  limits.max_buffered_bytes = 512;
  sidecar::intake::SmtpSession session("fuzz.test", limits, policy);
  std::string out;
  session.greet(out);
  using Next = sidecar::intake::SmtpSession::Next;
  Next next = Next::Read;
  for (std::size_t i = 0; i < input.size() && next != Next::Close; i += chunk) {
    next = session.feed(input.substr(i, chunk), out);
    while (next == Next::Deliver) {
      const auto d = session.takeDelivery();
      checkMessage(d.message, limits.max_message_bytes);
      next = session.delivered({250, "2.0.0", "sent", false}, out);
    }
  }
  checkReplies(out);
  (void)sidecar::intake::withoutBcc(input);
  return 0;
}
