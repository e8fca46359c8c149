// oauth_token_holder.h: one OAuth2 credential path of the keeper: the client's secret
// or key read from Vault, the token endpoint, the current access token and when to
// refresh it.
//
// SECURITY: keeper only. The client material is read from Vault (KV version 2: mount,
// path, field) for each token request and dropped right after it: it is never kept,
// never read from a file or the environment. The access token is a SecretBytes.
// ERRORS: Result values from Vault (reading the material) and the token endpoint
// (oauth_token_source.h); a failed refresh keeps the current token while it is valid.
#pragma once

#include <optional>
#include <string>

#include "sidecar/keeper/oauth_token_source.h"
#include "vault/client.h"
#include "vault/lifetime.h"

namespace sidecar::keeper {

// Where the client secret or private key lives in Vault.
struct ClientMaterialLocation {
  std::string kv_mount = "secret";
  std::string kv_path;                  // e.g. "smtp-oauth/example-app"
  std::string field = "client_secret";  // or "private_key" (PEM)
};

class OAuthTokenHolder {
 public:
  OAuthTokenHolder(std::unique_ptr<TokenFetcher> endpoint, ClientMaterialLocation material,
                   foundation::Clock& clock = foundation::systemClock(),
                   foundation::UniformSource uniform = foundation::systemUniform());

  // Reads the client material from Vault and asks the endpoint for a new token; on
  // success the new token replaces the old one. `refusal` as in TokenEndpointClient.
  foundation::Status refresh(vault::Client& vault, TokenRefusal* refusal = nullptr);

  // The same request, but the token goes to the caller and is not kept here (the
  // keeper's credential slot holds it: one locked copy, not two).
  foundation::Result<AccessToken> request(vault::Client& vault, TokenRefusal* refusal = nullptr);
  const ClientMaterialLocation& material() const noexcept { return material_; }

  // A token that is valid now, or none.
  const foundation::SecretBytes* current() const;
  // True when the token should be replaced now (about two thirds of its life, with
  // jitter; at once when it has none or it was refused).
  bool refreshDue() const;
  foundation::SteadyTime nextRefreshAt() const;
  // The SMTP server refused the token (535, or 334 with an error): it is dropped, and
  // refreshDue() says so. The caller refreshes once and the worker retries once.
  void refused();
  std::chrono::seconds secondsToExpiry() const;
  const std::string& grantedScope() const noexcept { return scope_; }

 private:
  std::unique_ptr<TokenFetcher> endpoint_;
  ClientMaterialLocation material_;
  foundation::Clock& clock_;
  foundation::UniformSource uniform_;
  foundation::SecretBytes token_;
  std::string scope_;
  std::optional<vault::Lifetime> life_;
};

}  // namespace sidecar::keeper
