// smtp_reply_fuzz.cc: libFuzzer target for the SMTP reply parser.
#include <cstdint>
#include <string_view>

#include "mailformat/smtp_reply.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  mailformat::ReplyCollector collector;
  // Feed in two chunks split at a data-dependent point, as the network would.
  const std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  collector.feed(input.substr(0, split));
  collector.feed(input.substr(split));
  const auto& reply = collector.last();
  if (reply.code != 0 && (reply.code < 200 || reply.code > 599)) __builtin_trap();
  (void)mailformat::parseReplyLine(input);
  return 0;
}
