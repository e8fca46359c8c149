// message_fuzz.cc: libFuzzer target for stdin collection and message assembly. The
// first byte picks -t and dot-ends-input, the rest is what the caller writes on stdin.
#include <cstdint>
#include <string_view>

#include "mailformat/address.h"
#include "sendmail/message.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool t = (data[0] & 1) != 0;
  const bool dot_ends = (data[0] & 2) != 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  sendmail::InputCollector collector(dot_ends, 4096);
  auto state = sendmail::InputCollector::State::More;
  for (std::size_t i = 0; i < input.size() && state == sendmail::InputCollector::State::More;
       i += 7) {
    state = collector.feed(input.substr(i, 7));
  }
  if (state == sendmail::InputCollector::State::More) state = collector.finish();
  const auto collected = collector.take();
  if (state == sendmail::InputCollector::State::Done && collected.size() > 4096) __builtin_trap();

  sendmail::AssemblyParams params;
  params.extract_recipients = t;
  if (!t) params.argument_recipients = {"a@x.test"};
  params.from_address = "app@x.test";
  params.full_name = "Name";
  params.date = "Fri, 27 Nov 2026 11:00:00 +0000";
  params.message_id = "<id@x.test>";
  auto assembled = sendmail::assembleMessage(collected, params);
  if (auto* a = std::get_if<sendmail::Assembled>(&assembled)) {
    const auto& m = a->message;
    // Invariants: only CRLF line endings, never a Bcc field, checked recipients.
    for (std::size_t i = 0; i < m.size(); ++i) {
      if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) __builtin_trap();
    }
    const auto end = m.find("\r\n\r\n");
    if (end == std::string::npos) __builtin_trap();
    std::string_view header(m.data(), end + 2);
    for (std::size_t at = 0; at < header.size();) {
      const auto line_end = header.find("\r\n", at);
      const auto line = header.substr(at, line_end - at);
      if (line.size() >= 4 && (line[0] | 0x20) == 'b' && (line[1] | 0x20) == 'c' &&
          (line[2] | 0x20) == 'c' && line[3] == ':') {
        __builtin_trap();
      }
      at = line_end + 2;
    }
    if (a->recipients.empty() || a->recipients.size() > mailformat::kMaxRecipients) {
      __builtin_trap();
    }
    // A recipient is a checked address, or a local name ("root", cron's MAILTO=ops) that
    // the sidecar resolves through the caller's profile's aliases.
    for (const auto& r : a->recipients) {
      if (!mailformat::isLocalName(r) && mailformat::checkAddress(r, false)) {
        __builtin_trap();
      }
    }
  }
  if (auto addresses = mailformat::parseAddressList(input.substr(0, 2048), 100)) {
    for (const auto& address : *addresses) {
      if (address.empty() || mailformat::checkAddress(address, false)) __builtin_trap();
    }
  }
  return 0;
}
