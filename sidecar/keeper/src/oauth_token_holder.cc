// oauth_token_holder.cc: see oauth_token_holder.h.
//
// SECURITY: the KV answer (client secret or key) lives in locked memory inside the
// KvSecret and goes out of scope at the end of refresh().
// ERRORS: Result values; Vault's errors keep their kind (Temporary: retry later).
#include "sidecar/keeper/oauth_token_holder.h"

namespace sidecar::keeper {

OAuthTokenHolder::OAuthTokenHolder(std::unique_ptr<TokenFetcher> endpoint,
                                   ClientMaterialLocation material, foundation::Clock& clock,
                                   foundation::UniformSource uniform)
    : endpoint_(std::move(endpoint)),
      material_(std::move(material)),
      clock_(clock),
      uniform_(std::move(uniform)) {}

foundation::Result<AccessToken> OAuthTokenHolder::request(vault::Client& vault,
                                                          TokenRefusal* refusal) {
  if (refusal != nullptr) *refusal = TokenRefusal::None;
  auto kv = vault.readKv2(material_.kv_mount, material_.kv_path);
  if (!kv) {
    return std::move(kv).error().context("reading the OAuth2 client " + material_.field + " from " +
                                         material_.kv_mount + "/" + material_.kv_path);
  }
  const foundation::SecretBytes* material = kv->data.find(material_.field);
  if (material == nullptr || material->empty()) {
    return foundation::Error::permanent("Vault secret " + material_.kv_mount + "/" +
                                        material_.kv_path + " has no field " + material_.field);
  }
  return endpoint_->fetch(*material, refusal);
}

foundation::Status OAuthTokenHolder::refresh(vault::Client& vault, TokenRefusal* refusal) {
  auto token = request(vault, refusal);
  if (!token) {
    if (life_) life_->replaceFailed(clock_.now());
    return std::move(token).error();
  }
  const auto now = clock_.now();
  token_ = std::move(token->token);
  scope_ = std::move(token->scope);
  // Not renewable: the Lifetime asks for a replacement while a third of it is left.
  life_.emplace(now, token->expires_in, false, vault::LifetimePolicy{}, uniform_);
  return {};
}

const foundation::SecretBytes* OAuthTokenHolder::current() const {
  if (!life_ || token_.empty() || life_->expired(clock_.now())) return nullptr;
  return &token_;
}

bool OAuthTokenHolder::refreshDue() const {
  if (!life_ || token_.empty()) return true;
  return life_->due(clock_.now()) != vault::Lifetime::Action::Wait;
}

foundation::SteadyTime OAuthTokenHolder::nextRefreshAt() const {
  return life_ && !token_.empty() ? life_->nextAt() : clock_.now();
}

void OAuthTokenHolder::refused() {
  token_ = foundation::SecretBytes();
  life_.reset();
}

std::chrono::seconds OAuthTokenHolder::secondsToExpiry() const {
  if (current() == nullptr) return std::chrono::seconds(0);
  return std::chrono::duration_cast<std::chrono::seconds>(life_->expiresAt() - clock_.now());
}

}  // namespace sidecar::keeper
