// client.h: the Vault/OpenBao client the sidecar uses. It knows Vault, not mail.
//
// SECURITY: holds the Vault token (SecretBytes) for the lifetime of a login. Inputs
// from Vault are untrusted and go through response_parser.h only. Never logs a
// request or response body.
// ERRORS: Result values; Vault's `errors` array is included in the message (Vault
// does not put secrets there). Permanent for 4xx (bad credentials, denied), Temporary
// for 5xx, 429, sealed, and transport failures.
#pragma once

#include <string>
#include <string_view>

#include "vault/http_transport.h"
#include "vault/result.h"
#include "vault/types.h"

namespace vault {

class Client {
 public:
  explicit Client(HttpTransportPtr transport);

  // POST auth/<mount>/login with role_id and secret_id. On success the client keeps
  // the token for later requests and returns the auth block (token included).
  Result<AuthInfo> loginAppRole(const SecretBytes& role_id, const SecretBytes& secret_id,
                                std::string_view mount = "approle");

  // GET v1/<path>: a leased or static secret.
  Result<LeasedSecret> read(std::string_view path);

  // PUT v1/sys/leases/revoke/<lease_id>.
  Status revokeLease(std::string_view lease_id);

  // POST v1/auth/token/revoke-self; forgets the token on success.
  Status revokeSelf();

  bool hasToken() const noexcept { return !token_.empty(); }
  void setToken(SecretBytes token) { token_ = std::move(token); }

 private:
  Result<HttpResponse> call(HttpMethod method, std::string path, SecretBytes body);
  HttpTransportPtr transport_;
  SecretBytes token_;
};

}  // namespace vault
