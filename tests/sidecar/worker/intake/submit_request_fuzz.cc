// submit_request_fuzz.cc: libFuzzer target for the submission input gate. The first
// line of the input is the query string, the rest the raw message.
#include <cstdint>
#include <string_view>

#include "sidecar/intake/submit_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nl = input.find('\n');
  const auto query = input.substr(0, nl);
  const auto message = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
  auto envelope = sidecar::submit::parseEnvelopeQuery(query);
  if (auto* e = std::get_if<sidecar::submit::Envelope>(&envelope)) {
    // Invariant: no accepted address (the sender goes into MAIL FROM, each recipient
    // into RCPT TO) carries an SMTP line break, a NUL or an angle bracket.
    if (e->from.find_first_of(std::string_view("\r\n\0<>", 5)) != std::string::npos) {
      __builtin_trap();
    }
    for (const auto& r : e->recipients) {
      if (r.find_first_of(std::string_view("\r\n\0<>", 5)) != std::string::npos) __builtin_trap();
    }
  }
  auto normalized = sidecar::submit::normalizeRawMessage(message);
  if (auto* m = std::get_if<std::string>(&normalized)) {
    // Invariant: the output has only CRLF line endings.
    for (std::size_t i = 0; i < m->size(); ++i) {
      if ((*m)[i] == '\n' && (i == 0 || (*m)[i - 1] != '\r')) __builtin_trap();
      if ((*m)[i] == '\r' && (i + 1 == m->size() || (*m)[i + 1] != '\n')) __builtin_trap();
    }
  }
  (void)sidecar::submit::splitTarget(query);
  return 0;
}
