// spool_key_answer.h: what a failed Transit call for the spool's data key means: wait
// and ask again, or the wrapped key can never be decrypted by the configured key.
//
// SECURITY: the answer decides whether the worker sets the spool's files aside and
// starts a new generation under a new data key, so only Transit's own permanent answer
// counts as "lost": HTTP 400 to decrypt (OpenBao and Vault answer it for a key that
// does not exist, "encryption key not found"; for ciphertext of another key of that
// name, "cipher: message authentication failed"; for a version the key does not have
// or no longer decrypts, "invalid ciphertext: version is too new" and "... disallowed
// by policy"). Everything else waits: a Vault that is down, sealed, slow or answers
// 5xx/429; 403 (a policy without decrypt, or a token that is gone: the keeper logs in
// again); 404 (no Transit mount at that path: a Vault being set up, or a typo that a
// new key could not fix either). Nothing here sees a key or a secret.
// ERRORS: none (a pure classification).
#pragma once

#include "foundation/result.h"

namespace sidecar::keeper {

enum class SpoolKeyFailure {
  NotNow,  // the worker asks again later; nothing on disk changes
  Lost,    // Transit cannot decrypt this wrapped key, and never will with this key
};

// `decrypt_failure`: the error of vault::Client::transitDecrypt. The creation of a
// new key (datakey) never yields Lost: there is no old key to lose.
SpoolKeyFailure classifyTransitDecryptFailure(const foundation::Error& decrypt_failure) noexcept;

}  // namespace sidecar::keeper
