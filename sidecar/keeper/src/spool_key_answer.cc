// spool_key_answer.cc: see spool_key_answer.h.
//
// SECURITY: see spool_key_answer.h; reads an error's kind and words only.
// ERRORS: none.
#include "sidecar/keeper/spool_key_answer.h"

#include <string_view>

namespace sidecar::keeper {

SpoolKeyFailure classifyTransitDecryptFailure(const foundation::Error& decrypt_failure) noexcept {
  // vault-client words an HTTP error answer "HTTP <status>: <Vault's errors>", and
  // calls it Permanent for 4xx (but 412 and 429); a transport failure never has it.
  if (decrypt_failure.kind != foundation::ErrorKind::Permanent) return SpoolKeyFailure::NotNow;
  const std::string_view message = decrypt_failure.message;
  return message.find("HTTP 400") != std::string_view::npos ? SpoolKeyFailure::Lost
                                                            : SpoolKeyFailure::NotNow;
}

}  // namespace sidecar::keeper
