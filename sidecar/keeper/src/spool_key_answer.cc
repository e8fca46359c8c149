// spool_key_answer.cc: see spool_key_answer.h.
//
// SECURITY: see spool_key_answer.h; reads an error's kind and words only.
// ERRORS: none.
#include "sidecar/keeper/spool_key_answer.h"

#include <string_view>

namespace sidecar::keeper {

SpoolKeyFailure classifyTransitDecryptFailure(const foundation::Error& decrypt_failure) noexcept {
  // vault-client words an HTTP error answer "<call>: HTTP <status>: <Vault's errors>",
  // and calls it Permanent for 4xx (but 412 and 429); a transport failure never has it.
  if (decrypt_failure.kind != foundation::ErrorKind::Permanent) return SpoolKeyFailure::NotNow;
  const std::string_view message = decrypt_failure.message;
  constexpr std::string_view kStatus = "HTTP 400: ";
  const auto at = message.find(kStatus);
  if (at == std::string_view::npos) return SpoolKeyFailure::NotNow;
  // Only Transit's own words (spool_key_answer.h): a 400 from a proxy in front of
  // Vault, or any other refusal, must not set mail aside.
  const std::string_view vault_said = message.substr(at + kStatus.size());
  for (std::string_view transit : {"encryption key not found", "message authentication failed",
                                   "invalid ciphertext", "disallowed by policy"}) {
    if (vault_said.find(transit) != std::string_view::npos) return SpoolKeyFailure::Lost;
  }
  return SpoolKeyFailure::NotNow;
}

}  // namespace sidecar::keeper
