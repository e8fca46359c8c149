// address_fuzz.cc: libFuzzer target for the one address-list parser, the envelope
// address check and the sender rule. The first line is a sender pattern, the rest an
// address-list header value.
//
// Invariants: every address the list parser returns passes checkAddress (so it can go
// into MAIL FROM / RCPT TO as is) and carries no CR, LF, NUL, space or angle bracket;
// an exact pattern allows exactly its own address (ASCII case-insensitive).
#include <cstdint>
#include <string_view>

#include "mailformat/address.h"
#include "mailformat/sender_rule.h"

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto l = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    if (l(a[i]) != l(b[i])) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nl = input.find('\n');
  const auto pattern = input.substr(0, nl);
  const auto value = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
  const bool pattern_ok = mailformat::checkSenderPattern(pattern).ok();
  const auto list = mailformat::parseAddressList(value, 100);
  if (!list) return 0;
  if (list->size() > 100) __builtin_trap();
  for (const auto& address : *list) {
    if (mailformat::checkAddress(address, false)) __builtin_trap();
    if (address.find_first_of(std::string_view("\r\n\0 <>", 6)) != std::string::npos) {
      __builtin_trap();
    }
    if (pattern_ok && pattern.rfind("*@", 0) != 0) {
      const bool allowed = mailformat::senderAllowed({std::string(pattern)}, address);
      if (allowed != iequals(pattern, address)) __builtin_trap();
    }
  }
  return 0;
}
