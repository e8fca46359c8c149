// format_fuzz.cc: libFuzzer target for the spool file parser (disk content is
// untrusted: truncated, corrupt or planted files). The first byte chooses the layer:
// 0: a plaintext record (what an authenticated file holds), 1: a whole sealed file
// under the fuzzer's own key, 2: a plaintext record of format version 1 (before the
// request digest; it must parse, and re-encode as version 2). A record that parses must encode back
// to the same bytes (the encoding is canonical) and survive a seal/open round trip. Corpus:
// tests/sidecar/spool/format_corpus (SPOOL_WRITE_CORPUS, see format_test.cc).
#include <cstdint>
#include <string>
#include <string_view>

#include "sidecar/spool/format.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sidecar::spool;
  static const DataKey* key = [] {
    foundation::initSecretMemoryOrDie();
    auto* k = new DataKey;
    k->key = foundation::SecretBytes::copyOf(std::string_view(std::string(kKeyLength, 'f')));
    k->id = keyIdOf("vault:v1:fuzz");
    return k;
  }();
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  Limits limits;
  limits.max_message_bytes = 1 << 20;  // keeps the fuzzer's allocations small
  auto record = data[0] == 0   ? parseRecord(input, limits)
                : data[0] == 2 ? parseRecord(input, limits, 1)
                               : open(input, *key, limits);
  if (!record) return 0;
  if (data[0] == 0 && encodeRecord(*record) != input) __builtin_trap();
  auto sealed = seal(*record, *key);
  if (!sealed) __builtin_trap();
  auto reopened = open(*sealed, *key, limits);
  if (!reopened || !(*reopened == *record)) __builtin_trap();
  return 0;
}
