// submit_json_fuzz.cc: libFuzzer target for the JSON submission parser and the MIME
// message built from what it accepts.
//
// Invariants: every envelope address passes checkAddress (so nothing that could break
// an SMTP command reaches MAIL FROM or RCPT TO), the recipient limit holds, and the
// built message has no NUL and no line over 998 octets.
#include <cstdint>
#include <string_view>

#include "mailformat/address.h"
#include "mailformat/mime.h"
#include "sidecar/intake/submit_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = sidecar::submit::parseJsonSubmission(input);
  auto* submission = std::get_if<sidecar::submit::JsonSubmission>(&parsed);
  if (submission == nullptr) return 0;
  const auto& envelope = submission->envelope;
  if (mailformat::checkAddress(envelope.from, /*allow_empty=*/false)) __builtin_trap();
  if (envelope.recipients.empty() || envelope.recipients.size() > mailformat::kMaxRecipients) {
    __builtin_trap();
  }
  for (const auto& r : envelope.recipients) {
    if (mailformat::checkAddress(r, false)) __builtin_trap();
  }
  mailformat::mime::BuildOptions options;
  options.message_id = "fuzz@x.test";
  options.boundary_seed = "seed";
  const auto message = mailformat::mime::build(submission->message, options);
  std::size_t line = 0;
  for (const char c : message) {
    if (c == '\0') __builtin_trap();
    line = c == '\n' ? 0 : line + 1;
    if (line > 1000) __builtin_trap();  // 998 octets + CR, LF
  }
  return 0;
}
