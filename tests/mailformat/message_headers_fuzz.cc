// message_headers_fuzz.cc: libFuzzer target for the From / Message-ID reader (client
// input): it must not crash, and what it returns must be within its limits.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mailformat/message_headers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view message(reinterpret_cast<const char*>(data), size);
  const auto summary = mailformat::summarizeHeaders(message);
  if (summary.from.size() > mailformat::kMaxFromAddresses) std::abort();
  if (summary.from_malformed && !summary.from.empty()) std::abort();
  if (summary.message_id.size() > mailformat::kMaxMessageIdLength) std::abort();
  return 0;
}
