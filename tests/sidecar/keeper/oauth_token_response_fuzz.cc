// oauth_token_response_fuzz.cc: libFuzzer target for the token endpoint answer parser.
// The first byte picks the HTTP status class, the rest is the body.
#include <cstdint>
#include <string_view>

#include "sidecar/keeper/oauth_token_response.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  foundation::initSecretMemoryOrDie();
  if (size == 0) return 0;
  static constexpr long kStatuses[] = {200, 400, 401, 429, 500, 503, 302, 204};
  const long status = kStatuses[data[0] % 8];
  auto body = foundation::SecretBytes::copyOf(
      std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  sidecar::keeper::TokenRefusal refusal = sidecar::keeper::TokenRefusal::None;
  auto got = sidecar::keeper::parseTokenResponse(status, body, &refusal);
  if (got.ok()) {
    // A token is only ever accepted from a 2xx answer, non-empty and bounded.
    if (status < 200 || status > 299) __builtin_trap();
    if (got->token.empty() || got->token.size() > sidecar::keeper::kMaxAccessTokenBytes)
      __builtin_trap();
    if (got->expires_in > sidecar::keeper::kMaxTokenLifetime) __builtin_trap();
    if (refusal != sidecar::keeper::TokenRefusal::None) __builtin_trap();
  } else if (got.errorMessage().empty()) {
    __builtin_trap();
  }
  return 0;
}
