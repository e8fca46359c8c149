// jwt_assertion.h: signed JWTs the keeper presents to a token endpoint: the
// private_key_jwt client assertion (RFC 7523 section 2.2, OpenID Connect Core 9) and
// the JWT bearer grant of Google service accounts (RFC 7523 section 2.1).
//
// SECURITY: the private key arrives from Vault as PEM in locked memory and is handed
// to OpenSSL through a read-only memory BIO (no copy of ours in ordinary memory;
// OpenSSL's own key structures are freed with the EVP_PKEY right after signing). The
// signed JWT is a bearer credential until it expires, so it is a SecretBytes too.
// Claims are never logged; errors name the claim or the key type, never the key.
// ERRORS: Permanent for a key that does not parse, is encrypted, or is of a type
// other than RSA (>= 2048 bits, RS256) or EC P-256 (ES256); Internal for OpenSSL
// failures while signing.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "foundation/result.h"
#include "foundation/secret.h"

namespace sidecar::keeper {

inline constexpr std::size_t kMaxPrivateKeyPemBytes = 16 * 1024;
inline constexpr std::size_t kMaxClaimText = 2048;
// RFC 7523 3: the endpoint decides, but a short life limits replay; Entra ID accepts
// up to 10 minutes, Google up to one hour.
inline constexpr std::chrono::seconds kMaxAssertionLifetime{600};

struct JwtAssertionClaims {
  std::string issuer;          // iss: the client id (client assertion) or service account
  std::string subject;         // sub: the client id, or the mailbox (Google delegation)
  std::string audience;        // aud: the token endpoint URL
  std::string scope;           // scope claim (Google's JWT bearer grant); "" = none
  std::string key_id;          // kid header: which of the client's keys signed it; "" = none
  std::string jwt_id;          // jti: unique per assertion (replay protection at the endpoint)
  std::int64_t issued_at = 0;  // iat, seconds since the epoch
  std::chrono::seconds lifetime{300};
};

// "RS256" or "ES256" for the key's type; Permanent error for any other key.
foundation::Result<std::string> jwtAlgorithmFor(const foundation::SecretBytes& private_key_pem);

// header.claims.signature, each part base64url without padding.
foundation::Result<foundation::SecretBytes> signJwtAssertion(
    const foundation::SecretBytes& private_key_pem, const JwtAssertionClaims& claims);

// base64url without padding (RFC 7515 2), for JWT parts; exposed for the tests.
std::string base64UrlEncode(std::string_view bytes);

}  // namespace sidecar::keeper
