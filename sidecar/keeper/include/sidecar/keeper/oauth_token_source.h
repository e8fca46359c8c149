// oauth_token_source.h: OAuth2 access tokens for SMTP (XOAUTH2 / OAUTHBEARER) from a
// token endpoint by the client-credentials grant (Microsoft Entra ID, Keycloak, Hydra)
// or the JWT bearer grant (Google service accounts with domain-wide delegation).
//
// SECURITY: runs in the keeper only. The client's secret or private key comes from
// Vault (never a file or the environment) as a SecretBytes and is used for one request;
// the form body that carries it, the Basic authorization header and the answer are
// locked memory (libcurl's own copies are zeroed on free, vault/curl_global.h). The
// token endpoint must be https with a verified certificate; plain http is accepted
// only for a loopback address (tests, a local broker). No redirects are followed.
// ERRORS: Temporary for an unreachable endpoint, 5xx and 429; Permanent for a refusal
// that will repeat (invalid_client, invalid_scope, ...) and for bad settings. The error
// text names the cause in plain words (doctor shows it as is).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "foundation/result.h"
#include "foundation/secret.h"
#include "sidecar/keeper/jwt_assertion.h"
#include "sidecar/keeper/oauth_token_response.h"

namespace sidecar::keeper {

// How the keeper proves who it is to the token endpoint.
enum class ClientAuthentication {
  ClientSecretPost,   // client_id + client_secret in the form (Entra ID, Keycloak)
  ClientSecretBasic,  // HTTP Basic with client_id:client_secret (RFC 6749 2.3.1)
  PrivateKeyJwt,      // client_assertion signed with the client's key (RFC 7523 2.2)
  JwtBearerGrant,     // grant_type jwt-bearer, the assertion is the grant (Google)
};

const char* toString(ClientAuthentication method) noexcept;
// "client_secret_post", "client_secret_basic", "private_key_jwt", "jwt_bearer"; false
// for anything else.
bool parseClientAuthentication(std::string_view word, ClientAuthentication& out) noexcept;

struct TokenSourceSettings {
  std::string token_endpoint;  // https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token
  std::string client_id;       // also iss/sub of a client assertion
  std::string scope;  // "https://outlook.office365.com/.default", "https://mail.google.com/"
  ClientAuthentication authentication = ClientAuthentication::ClientSecretPost;
  // JwtBearerGrant: the mailbox to act for (sub); "" = the service account itself.
  std::string subject;
  std::string key_id;    // kid of the signing key, when the endpoint wants it
  std::string audience;  // aud of an assertion; "" = the token endpoint URL
  std::string ca_file;   // PEM bundle for the endpoint; "" = the system's
  std::chrono::milliseconds timeout{10000};
  std::chrono::seconds assertion_lifetime{300};
  // Used when the answer has no expires_in (RFC 6749 makes it only RECOMMENDED).
  std::chrono::seconds default_lifetime{300};
};

// Checks the settings (URL scheme, loopback rule for http, required fields for the
// method). Permanent error naming the key.
foundation::Status validateTokenSourceSettings(const TokenSourceSettings& settings);

// The application/x-www-form-urlencoded body of one token request, in locked memory.
// `client_material` is the client secret or the PEM private key, per the method.
// `now_unix` and `jwt_id` feed the assertion (ignored for the secret methods).
foundation::Result<foundation::SecretBytes> buildTokenRequestBody(
    const TokenSourceSettings& settings, const foundation::SecretBytes& client_material,
    std::int64_t now_unix, const std::string& jwt_id);

// Percent-encoding of application/x-www-form-urlencoded (WHATWG URL 5.2), appended to
// a locked buffer; exposed for the tests.
std::string formEncode(std::string_view text);

// Where a token comes from: the token endpoint (TokenEndpointClient), or in the keeper's
// unit tests a scripted endpoint on the fake clock.
class TokenFetcher {
 public:
  virtual ~TokenFetcher() = default;
  // Requests one token. `refusal` says what the endpoint refused with, if it did.
  virtual foundation::Result<AccessToken> fetch(const foundation::SecretBytes& client_material,
                                                TokenRefusal* refusal = nullptr) = 0;
};

// One token endpoint, over libcurl.
class TokenEndpointClient final : public TokenFetcher {
 public:
  static foundation::Result<std::unique_ptr<TokenEndpointClient>> create(
      TokenSourceSettings settings);
  ~TokenEndpointClient() override;
  TokenEndpointClient(const TokenEndpointClient&) = delete;
  TokenEndpointClient& operator=(const TokenEndpointClient&) = delete;

  // Requests one token. `refusal` says what the endpoint refused with, if it did.
  foundation::Result<AccessToken> fetch(const foundation::SecretBytes& client_material,
                                        TokenRefusal* refusal = nullptr) override;
  const TokenSourceSettings& settings() const noexcept { return settings_; }

 private:
  explicit TokenEndpointClient(TokenSourceSettings settings);
  TokenSourceSettings settings_;
  void* easy_ = nullptr;  // CURL*, kept for connection reuse
};

}  // namespace sidecar::keeper
