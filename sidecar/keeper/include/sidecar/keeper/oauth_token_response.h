// oauth_token_response.h: the one parser of OAuth2 token endpoint answers (RFC 6749
// sections 5.1 and 5.2), for the keeper's token sources.
//
// SECURITY: the answer is untrusted input (a compromised or impersonated endpoint, a
// proxy). Parsing is pure (no I/O), bounded (body size, nesting, token length, text
// lengths) and in place: the body is a SecretBytes, RapidJSON decodes it in place and
// allocates from locked memory (foundation/locked_json.h), and the access token leaves only as a
// SecretBytes. Error texts from the endpoint are kept only if they are short printable
// ASCII (RFC 6749's error_description charset), since they reach logs and doctor.
// ERRORS: Permanent for a malformed answer and for refusals that will repeat
// (invalid_client, invalid_scope, ...); Temporary for 5xx, 429 and
// temporarily_unavailable. The error text names the RFC 6749 code in plain words.
#pragma once

#include <chrono>
#include <string>

#include "foundation/result.h"
#include "foundation/secret.h"

namespace sidecar::keeper {

// A token answer is a few KiB (a JWT access token with claims); Entra ID's largest are
// under 8 KiB. Anything far beyond is not a token answer.
inline constexpr std::size_t kMaxTokenResponseBytes = 64 * 1024;
inline constexpr std::size_t kMaxAccessTokenBytes = 16 * 1024;
inline constexpr std::size_t kMaxTokenFieldText = 256;  // token_type, scope, error codes
inline constexpr unsigned kMaxTokenResponseDepth = 8;
// An expires_in beyond a day is not a short-lived token; clamp it (we refresh anyway).
inline constexpr std::chrono::seconds kMaxTokenLifetime{24 * 3600};

// What the endpoint refused with (RFC 6749 5.2 `error`), for doctor and metrics.
enum class TokenRefusal {
  None,
  InvalidRequest,
  InvalidClient,       // client authentication failed: wrong secret, key or client id
  InvalidGrant,        // the assertion (JWT bearer grant) was refused
  UnauthorizedClient,  // the client may not use this grant type
  UnsupportedGrantType,
  InvalidScope,  // the scope is unknown or not granted to this client
  Unavailable,   // temporarily_unavailable, server_error, 5xx, 429
  Other,
};

const char* toString(TokenRefusal refusal) noexcept;

struct AccessToken {
  foundation::SecretBytes token;
  std::chrono::seconds expires_in{0};  // 0: the endpoint did not say
  std::string scope;                   // as granted, if the endpoint said
};

// Parses one answer. On success the result has a token (refusal None); an error answer
// is returned as an Error whose message starts with "token endpoint refused: <code>"
// and `refusal` (when non-null) says which. The body is modified (parsed in place).
foundation::Result<AccessToken> parseTokenResponse(long http_status, foundation::SecretBytes& body,
                                                   TokenRefusal* refusal = nullptr);

}  // namespace sidecar::keeper
