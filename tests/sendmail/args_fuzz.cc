// args_fuzz.cc: libFuzzer target for the sendmail command line. The input is argv
// (without argv[0]) with words separated by NUL bytes.
#include <cstdint>
#include <string_view>
#include <vector>

#include "sendmail/args.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> args;
  while (!input.empty() && args.size() <= sendmail::kMaxArguments) {
    const auto nul = input.find('\0');
    args.push_back(input.substr(0, nul));
    input = nul == std::string_view::npos ? std::string_view{} : input.substr(nul + 1);
  }
  auto parsed = sendmail::parseArguments(args);
  if (auto* o = std::get_if<sendmail::Options>(&parsed)) {
    // Invariant: a full name that reaches the header has no line break.
    if (o->full_name && o->full_name->find_first_of("\r\n") != std::string::npos) {
      __builtin_trap();
    }
  } else {
    if (std::get<sendmail::Failure>(parsed).exit_code != 64) __builtin_trap();
  }
  return 0;
}
