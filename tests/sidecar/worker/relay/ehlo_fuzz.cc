// ehlo_fuzz.cc: libFuzzer target for the EHLO capability parser, fed as the client
// feeds it: raw server bytes through ReplyCollector, then the reply's text.
#include <cstdint>
#include <string_view>

#include "mailformat/smtp_reply.h"
#include "sidecar/relay/ehlo.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  mailformat::ReplyCollector collector;
  collector.feed(input);
  const auto caps = sidecar::relay::parseEhlo(collector.last().text);
  constexpr unsigned kKnown = sidecar::relay::kSaslPlain | sidecar::relay::kSaslLogin |
                              sidecar::relay::kSaslXOAuth2 | sidecar::relay::kSaslOAuthBearer;
  if ((caps.auth & ~kKnown) != 0) __builtin_trap();
  if (caps.size_limit != 0 && !caps.size) __builtin_trap();
  (void)sidecar::relay::parseEhlo(input);  // and the raw bytes as text
  return 0;
}
