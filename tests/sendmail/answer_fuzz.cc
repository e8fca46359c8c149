// answer_fuzz.cc: libFuzzer target for the sidecar answer mapping. The first two bytes
// are the HTTP status (mod 600), the rest the body.
#include <cstdint>
#include <string_view>

#include "sendmail/answer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned status = (static_cast<unsigned>(data[0]) << 8 | data[1]) % 600;
  const std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);
  const auto verdict = sendmail::mapAnswer(status, body);
  // Invariants: a sysexits code, one printable line of bounded length.
  if (verdict.exit_code != 0 && (verdict.exit_code < 64 || verdict.exit_code > 78)) {
    __builtin_trap();
  }
  for (const char c : verdict.line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();
  }
  if (verdict.line.size() > 8192) __builtin_trap();
  if ((verdict.exit_code == 0) != verdict.line.empty()) __builtin_trap();
  return 0;
}
