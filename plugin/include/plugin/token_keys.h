// token_keys.h: the mount's ring of token signing keys and the rules of rotation
// without a failed login (docs/PLUGIN.md, "Passwordless logins"):
//
//   next     published in the JWKS, signs nothing yet: a mail host that syncs the JWKS
//            learns it before any token carries its kid;
//   current  signs every new token (exactly one);
//   retired  no longer signs; stays published until the last token it signed has
//            expired (`signed_until`, the latest `exp` it put in a token), then is dropped.
//
// rotate(): current -> retired, next -> current, a new key -> next. So a key signs only
// after it was published for one whole rotation period, and is published for as long as
// any token it signed is valid. The rule for operations: sync the JWKS to the mail host
// more often than the keys rotate.
//
// Pure logic (no clock, no storage): the engine passes `now` and stores what serialize()
// returns. The stored form is JSON in Vault storage (seal-wrapped, like config).
//
// SECURITY: private keys stay in SecretBytes; parse() reads the stored JSON in place in
// locked memory; serialize() builds it in locked memory. published() exposes public
// halves only.
// ERRORS: Internal for a stored ring that does not parse or breaks the invariants
// (Vault storage is the plugin's own: it is not client input).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "foundation/result.h"
#include "foundation/secret.h"
#include "plugin/token_signer.h"

namespace smtpplugin {

enum class KeyState { Next, Current, Retired };
std::string_view toString(KeyState s);

struct RingKey {
  std::string kid;
  KeyState state = KeyState::Next;
  foundation::SecretBytes private_pem;
  PublicJwk public_jwk;
  std::int64_t created_at = 0;    // Unix seconds
  std::int64_t signed_until = 0;  // latest exp of a token it signed; 0 = none
  std::int64_t retired_at = 0;    // 0 = not retired
};

class KeyRing {
 public:
  // An empty ring (no keys yet).
  KeyRing() = default;
  // The stored JSON, parsed in place (the buffer is consumed and wiped).
  static foundation::Result<KeyRing> parse(foundation::SecretBytes stored);
  foundation::SecretBytes serialize() const;

  bool empty() const noexcept { return keys_.empty(); }
  const std::vector<RingKey>& keys() const noexcept { return keys_; }
  const RingKey* current() const noexcept;
  const RingKey* next() const noexcept;

  // An empty ring gets its first two keys: `first` signs at once (nobody can hold a
  // token yet, so there is nothing to publish it ahead of), `second` is the next key.
  foundation::Status start(std::int64_t now, std::string first_kid, GeneratedKey first,
                           std::string second_kid, GeneratedKey second);
  // current -> retired, next -> current, `fresh` -> next; then prune(now).
  foundation::Status rotate(std::int64_t now, std::string fresh_kid, GeneratedKey fresh);
  // The current key signed a token valid until `exp`.
  void noteSigned(std::string_view kid, std::int64_t exp);
  // Drops retired keys whose last token has expired by `now`. Returns how many.
  std::size_t prune(std::int64_t now);
  // What the JWKS shows at `now`: next, current, and retired keys with a valid token.
  std::vector<const RingKey*> published(std::int64_t now) const;

  // The most keys a ring holds (current + next + retired); rotate() refuses beyond it
  // (an operator rotating faster than tokens expire would otherwise grow the JWKS).
  static constexpr std::size_t kMaxKeys = 16;

 private:
  foundation::Status checkInvariants() const;
  std::vector<RingKey> keys_;
};

}  // namespace smtpplugin
