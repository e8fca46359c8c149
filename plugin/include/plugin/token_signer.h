// token_signer.h: the cryptography of passwordless SMTP logins: an RS256 signing key
// (RSA 2048, OpenSSL EVP), its public half as a JWK, and a compact JWS (RFC 7515/7519)
// signed with it. Pure functions over bytes; the key ring (token_keys.h) decides which
// key signs and which are published.
//
// SECURITY: the private key exists only as PKCS#8 PEM in SecretBytes (locked memory)
// and, while a signature is made or a key is generated, inside an OpenSSL EVP_PKEY that
// is freed right after (OpenSSL clears RSA private numbers on free). It never leaves
// the plugin: nothing here returns or formats it except for the plugin's own storage.
// The token is a bearer credential: it is built in SecretBytes.
// ERRORS: Internal when OpenSSL fails (every call is checked, its error queue is
// drained into the message); Permanent for a token or key that does not parse.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "foundation/result.h"
#include "foundation/secret.h"

namespace smtpplugin {

inline constexpr std::string_view kTokenAlgorithm = "RS256";
inline constexpr int kRsaKeyBits = 2048;

// The public half of a signing key, in JWK members (RFC 7518 6.3.1), base64url.
struct PublicJwk {
  std::string n;
  std::string e;
};

struct GeneratedKey {
  foundation::SecretBytes private_pem;  // PKCS#8 "-----BEGIN PRIVATE KEY-----"
  PublicJwk public_jwk;
};

// A fresh RSA key (OpenSSL's DRBG).
foundation::Result<GeneratedKey> generateSigningKey();

// The public JWK of a stored private key (checks that it is an RSA key of kRsaKeyBits).
foundation::Result<PublicJwk> publicJwkOf(const foundation::SecretBytes& private_pem);

// base64url without padding (RFC 7515 2).
std::string base64Url(std::string_view bytes);

// header = {"alg":"RS256","kid":<kid>,"typ":"JWT"}; the token is
// base64url(header) "." base64url(claims_json) "." base64url(RSASSA-PKCS1-v1_5-SHA256).
// `claims_json` must be a JSON object (the caller builds it).
foundation::Result<foundation::SecretBytes> signJwt(std::string_view kid,
                                                    std::string_view claims_json,
                                                    const foundation::SecretBytes& private_pem);

// Checks a token's RS256 signature with a public JWK and returns its claims JSON (for
// tests and for the engine's self-check after signing). Permanent if it does not verify.
foundation::Result<std::string> verifyJwt(std::string_view token, const PublicJwk& key);

}  // namespace smtpplugin
