// response_parser.h: the one place where Vault/OpenBao answers are parsed.
//
// SECURITY: Vault's answers are untrusted input (a compromised or impersonated server,
// a proxy in between). Parsing is pure (no I/O), bounded (body size, nesting, field
// count, string length) and in place: the body is a SecretBytes in locked memory,
// RapidJSON decodes strings inside it (kParseInsituFlag) and allocates its DOM and
// parse stack from libsodium's guarded heap, so no secret is copied to ordinary
// memory. Secret values leave as SecretBytes only.
// ERRORS: Permanent "malformed response: ..." for anything that is not the expected
// shape; error responses become Errors whose kind follows the HTTP status.
#pragma once

#include "foundation/result.h"
#include "foundation/secret.h"
#include "vault/types.h"

namespace vault::response {

// Vault's largest normal answers (policies, leases) are a few KiB.
inline constexpr std::size_t kMaxBodyBytes = 1 << 20;
// A secret's data with more fields than this is not a credential.
inline constexpr std::size_t kMaxDataFields = 256;
// No Vault value we read nests deeper than data -> object -> value.
inline constexpr unsigned kMaxDepth = 32;
// Error text kept from Vault's `errors` array, per response.
inline constexpr std::size_t kMaxErrorText = 512;

// A login or token answer: the `auth` block. The body is modified (parsed in place).
foundation::Result<AuthInfo> parseAuth(foundation::SecretBytes& body);

// A logical read/write answer: lease fields, `data`, `warnings`, `wrap_info`, `auth`.
foundation::Result<LeasedSecret> parseSecret(foundation::SecretBytes& body);

// auth/token/lookup-self: the `data` block, without the token's own id.
foundation::Result<TokenInfo> parseTokenLookup(foundation::SecretBytes& body);

// sys/leases/renew (top-level lease fields) and sys/leases/lookup (`data`).
foundation::Result<LeaseInfo> parseLeaseRenewal(foundation::SecretBytes& body);
foundation::Result<LeaseInfo> parseLeaseLookup(foundation::SecretBytes& body);

// A LIST answer: `data.keys`.
foundation::Result<std::vector<std::string>> parseList(foundation::SecretBytes& body);

// A KV v2 read: `data.data` and `data.metadata`.
foundation::Result<KvSecret> parseKv2(foundation::SecretBytes& body);

// sys/health (any status code carries a body) and sys/leader.
foundation::Result<HealthStatus> parseHealth(long http_status, foundation::SecretBytes& body);
foundation::Result<LeaderStatus> parseLeader(foundation::SecretBytes& body);

// The Error for a non-2xx answer: kind from the status, text from `errors`.
foundation::Error parseError(long http_status, foundation::SecretBytes& body);

}  // namespace vault::response
