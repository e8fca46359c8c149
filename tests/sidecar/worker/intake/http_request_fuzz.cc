// http_request_fuzz.cc: libFuzzer target for the request framing (Beast's parser with
// the server's limits and the RFC 9112 checks): no crash, and a body never larger than
// its limit.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sidecar/intake/http_framing.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kBodyLimit = 4096;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto got = sidecar::submit::checkRequestBytes(bytes, kBodyLimit);
  if (got.body_bytes > kBodyLimit) std::abort();
  if (got.complete && got.status != 0) std::abort();
  if (got.status != 0 && got.status != 400 && got.status != 413 && got.status != 431) {
    std::abort();
  }
  return 0;
}
