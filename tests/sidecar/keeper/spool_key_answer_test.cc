// spool_key_answer_test.cc: which Transit failures set a spool aside (table-driven,
// with the answers OpenBao 2.x gives, as seen against the dev stack).
//
// SECURITY: a wrong "Lost" makes a new spool generation while the old key still works
// (its files kept, but mail delayed until a person acts); a wrong "NotNow" leaves the
// spool refusing asynchronous mail for ever. Both directions are tested.
// ERRORS: none.
#include "sidecar/keeper/spool_key_answer.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using foundation::Error;
using sidecar::keeper::classifyTransitDecryptFailure;
using sidecar::keeper::SpoolKeyFailure;

TEST_CASE("only Transit's 400 to decrypt means the spool's data key is lost") {
  struct Case {
    Error error;
    SpoolKeyFailure expected;
  };
  const std::vector<Case> cases = {
      // OpenBao restarted in dev mode and not yet re-bootstrapped, or the key deleted.
      {Error::permanent("write transit/decrypt/app-spool: HTTP 400: encryption key not found"),
       SpoolKeyFailure::Lost},
      // Re-bootstrapped: a new key of the same name.
      {Error::permanent(
           "write transit/decrypt/app-spool: HTTP 400: cipher: message authentication failed"),
       SpoolKeyFailure::Lost},
      {Error::permanent("write transit/decrypt/app-spool: HTTP 400: invalid ciphertext: version "
                        "is too new"),
       SpoolKeyFailure::Lost},
      {Error::permanent("write transit/decrypt/app-spool: HTTP 400: ciphertext or signature "
                        "version is disallowed by policy (too old)"),
       SpoolKeyFailure::Lost},
      // A 400 that is not Transit's word on the key: a proxy in front of Vault, a
      // request it could not read. Mail is not set aside for those.
      {Error::permanent("write transit/decrypt/app-spool: HTTP 400: Bad Request"),
       SpoolKeyFailure::NotNow},
      {Error::permanent("write transit/decrypt/app-spool: HTTP 400: missing client token"),
       SpoolKeyFailure::NotNow},
      // The words alone, without Transit's 400, are not enough either.
      {Error::permanent("write transit/decrypt/app-spool: HTTP 403: encryption key not found"),
       SpoolKeyFailure::NotNow},
      // The policy lacks decrypt, or the token is gone: the keeper logs in again.
      {Error::permanent("write transit/decrypt/app-spool: HTTP 403: permission denied"),
       SpoolKeyFailure::NotNow},
      // No Transit mount there (a Vault being set up): a new key cannot be made either.
      {Error::permanent("write transit/decrypt/app-spool: HTTP 404: no handler for route "
                        "\"transit/decrypt/app-spool\". route entry not found."),
       SpoolKeyFailure::NotNow},
      // Vault down, sealed, overloaded, slow.
      {Error::temporary("write transit/decrypt/app-spool: HTTP 503: Vault is sealed"),
       SpoolKeyFailure::NotNow},
      {Error::temporary("write transit/decrypt/app-spool: HTTP 500: internal error"),
       SpoolKeyFailure::NotNow},
      {Error::temporary("write transit/decrypt/app-spool: HTTP 429: rate limited"),
       SpoolKeyFailure::NotNow},
      {Error::notSent("write transit/decrypt/app-spool: connect: Connection refused"),
       SpoolKeyFailure::NotNow},
      {Error::temporary("write transit/decrypt/app-spool: Timeout was reached"),
       SpoolKeyFailure::NotNow},
      // A malformed success answer is not Transit saying no.
      {Error::permanent("transit decrypt: no plaintext in the answer"), SpoolKeyFailure::NotNow},
      {Error::internal("vault client has no server address"), SpoolKeyFailure::NotNow},
  };
  for (const auto& c : cases) {
    CAPTURE(c.error.message);
    CHECK(classifyTransitDecryptFailure(c.error) == c.expected);
  }
}
