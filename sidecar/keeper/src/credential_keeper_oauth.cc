// credential_keeper_oauth.cc: the keeper's OAuth2 credential paths ("oauth2:<name>",
// issue 18): an access token from the client's token endpoint takes the place of a
// Vault lease in the slot, with the same hand-out, expiry and retirement rules.
//
// SECURITY: the client secret or private key is read from Vault KV for each token
// request (OAuthTokenHolder::request) and dropped with the KV answer; the token moves
// from the endpoint's locked answer into the slot's SmtpCredential (SecretBytes), the
// only copy the keeper keeps. Logs name the path, a token id ("<path>#<n>"), the
// lifetime and the granted scope, never the token.
// ERRORS: a token endpoint that cannot be reached (Temporary) is retried with backoff
// while the current token is valid; refusals (invalid_client, invalid_scope) are
// Permanent: at start the keeper stops with them, later they are logged and retried
// with backoff (a secret rotated in Vault is picked up by the next request).
#include <algorithm>

#include "sidecar/base/log.h"
#include "sidecar/keeper/credential_keeper.h"

namespace sidecar {

using foundation::Error;
using foundation::Result;
using foundation::SteadyTime;

namespace {

// When a token of `ttl` is replaced: at two thirds of its life (the LifetimePolicy's
// rule, with its jitter), and at the latest `margin` before it ends. The margin is
// capped so that a token lives at least a third of its life before it is replaced (a
// short-lived token with a large margin must not be fetched in a loop).
vault::LifetimePolicy tokenPolicy(std::chrono::seconds ttl, std::chrono::seconds margin) {
  vault::LifetimePolicy policy;
  if (ttl.count() > 0) {
    const double by_margin =
        static_cast<double>(ttl.count() - margin.count()) / static_cast<double>(ttl.count());
    policy.renew_fraction = std::clamp(by_margin, 1.0 / 3.0, policy.renew_fraction);
  }
  return policy;
}

}  // namespace

Result<keeper::TokenSourceSettings> tokenSourceSettingsOf(const OAuth2Client& client) {
  keeper::TokenSourceSettings s;
  if (!keeper::parseClientAuthentication(client.authentication, s.authentication)) {
    return Error::permanent("oauth2 client " + client.name + ": unknown authentication \"" +
                            client.authentication + "\"");
  }
  s.token_endpoint = client.token_endpoint;
  s.client_id = client.client_id;
  s.scope = client.scope;
  s.subject = client.subject;
  s.key_id = client.key_id;
  s.audience = client.audience;
  s.ca_file = client.ca_file;
  s.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(client.timeout);
  if (auto valid = keeper::validateTokenSourceSettings(s); !valid) {
    return valid.error().context("oauth2 client " + client.name);
  }
  return s;
}

keeper::ClientMaterialLocation clientMaterialOf(const OAuth2Client& client) {
  return keeper::ClientMaterialLocation{client.kv_mount, client.kv_path, client.kv_field};
}

void CredentialKeeper::useOAuth2Clients(std::vector<OAuth2Client> clients,
                                        TokenFetcherFactory make_fetcher) {
  if (make_fetcher) {
    make_fetcher_ = std::move(make_fetcher);
  } else if (!make_fetcher_) {
    make_fetcher_ = [](const keeper::TokenSourceSettings& settings)
        -> Result<std::unique_ptr<keeper::TokenFetcher>> {
      auto client = keeper::TokenEndpointClient::create(settings);
      if (!client) return std::move(client).error();
      return std::unique_ptr<keeper::TokenFetcher>(std::move(*client));
    };
  }
  oauth_clients_ = std::move(clients);
  for (auto& slot : slots_) {
    if (!slot.oauth || slot.oauth_name.empty()) continue;
    const auto it = std::find_if(oauth_clients_.begin(), oauth_clients_.end(),
                                 [&](const OAuth2Client& c) { return c.name == slot.oauth_name; });
    if (it == oauth_clients_.end() || !(*it == slot.oauth_client)) {
      // Made again from the new settings for the next token; the current one serves on.
      log::info("oauth2_client_changed", {{"path", slot.path}});
      slot.oauth.reset();
    }
  }
}

foundation::Status CredentialKeeper::prepareOAuth(Slot& slot) {
  if (slot.oauth) return {};
  const auto it = std::find_if(oauth_clients_.begin(), oauth_clients_.end(),
                               [&](const OAuth2Client& c) { return c.name == slot.oauth_name; });
  if (it == oauth_clients_.end()) {
    return Error::permanent("credential path " + slot.path + " names no [[oauth2]] client \"" +
                            slot.oauth_name + "\"");
  }
  auto settings = tokenSourceSettingsOf(*it);
  if (!settings) return std::move(settings).error();
  if (!make_fetcher_) useOAuth2Clients(oauth_clients_);  // the real endpoint
  auto fetcher = make_fetcher_(*settings);
  if (!fetcher) return std::move(fetcher).error().context("oauth2 client " + it->name);
  slot.oauth = std::make_unique<keeper::OAuthTokenHolder>(std::move(*fetcher),
                                                          clientMaterialOf(*it), clock_, uniform_);
  slot.oauth_client = *it;
  return {};
}

Result<CredentialKeeper::Leased> CredentialKeeper::obtain(Slot& slot, SteadyTime now) {
  return slot.oauth_name.empty() ? leaseNew(slot.path, now) : fetchToken(slot, now);
}

Result<CredentialKeeper::Leased> CredentialKeeper::fetchToken(Slot& slot, SteadyTime now) {
  if (auto s = prepareOAuth(slot); !s) {
    log::warn("oauth2_token_failed", {{"path", slot.path},
                                      {"refusal", "none"},
                                      {"kind", foundation::toString(s.error().kind)},
                                      {"error", s.error().message}});
    return s.error();
  }
  keeper::TokenRefusal refusal = keeper::TokenRefusal::None;
  auto token = slot.oauth->request(client_, &refusal);
  if (!token) {
    log::warn("oauth2_token_failed", {{"path", slot.path},
                                      {"refusal", keeper::toString(refusal)},
                                      {"kind", foundation::toString(token.error().kind)},
                                      {"error", token.error().message}});
    return std::move(token).error().context("OAuth2 token for " + slot.path);
  }
  std::string token_id = slot.path + "#" + std::to_string(++tokens_obtained_);
  const std::chrono::seconds ttl = token->expires_in;
  log::info("oauth2_token_obtained",
            {{"path", slot.path},
             {"token_id", token_id},
             {"expires_in_seconds", static_cast<std::int64_t>(ttl.count())},
             {"scope", token->scope}});
  Leased leased{std::make_shared<const ipc::SmtpCredential>(ipc::SmtpCredential{
                    foundation::SecretBytes::copyOf(std::string_view(slot.oauth_client.sasl_user)),
                    std::move(token->token), std::move(token_id), slot.path,
                    ipc::CredentialKind::OAuth2Token}),
                vault::Lifetime(now, ttl, false, tokenPolicy(ttl, slot.oauth_client.refresh_margin),
                                uniform_),
                now, true, false};
  return leased;
}

void CredentialKeeper::tickOAuthSlot(Slot& slot, SteadyTime now, Changes& changes) {
  if (slot.current && slot.current->life.expired(now)) {
    // Never hand out a dead token (the refreshes before its end all failed).
    log::error("credential_expired", {{"lease_id", slot.current->credential->lease_id}});
    retire(*slot.current, now);
    slot.current.reset();
    changes.credential_changed = true;
    slot.lease_retry_at = now;
  }
  const bool due = slot.current ? slot.current->life.due(now) != vault::Lifetime::Action::Wait
                                : now >= slot.lease_retry_at && client_.hasToken();
  if (!due) return;
  auto fresh = fetchToken(slot, now);
  if (!fresh) {
    if (slot.current) {
      slot.current->life.replaceFailed(now);  // the current token serves while it is valid
    } else {
      slot.lease_retry_at = now + slot.lease_retry.next();
    }
    return;
  }
  slot.lease_retry.reset();
  if (slot.current) {
    countRotation("oauth2_refresh");
    log::info("credential_rotated", {{"reason", "oauth2_refresh"},
                                     {"old_lease_id", slot.current->credential->lease_id},
                                     {"new_lease_id", fresh->credential->lease_id}});
    // Sends in flight finish on the old token; its connections close after the grace.
    retire(*slot.current, now + settings_.rotation_grace);
  }
  slot.current.emplace(std::move(*fresh));
  ++generation_;
  changes.credential_changed = true;
}

void CredentialKeeper::oauthRefused(Slot& slot, SteadyTime now, Changes& changes) {
  log::warn("credential_refused_by_smtp_server",
            {{"lease_id", slot.current->credential->lease_id}, {"kind", "oauth2_token"}});
  // The server no longer takes this token (revoked, or its key is gone): one new
  // token now. The worker retries its send once with whatever this leaves and reports
  // only a send's first refusal, so there is at most one token request per refused
  // send, never a loop; later reports of the old id find it gone and do nothing.
  auto fresh = fetchToken(slot, now);
  retire(*slot.current, now);  // its connections are closed at once
  slot.current.reset();
  ++generation_;
  changes.credential_changed = true;
  if (!fresh) {
    slot.lease_retry_at = now + slot.lease_retry.next();
    return;
  }
  countRotation("refused");
  log::info("credential_rotated",
            {{"reason", "refused"}, {"new_lease_id", fresh->credential->lease_id}});
  slot.lease_retry.reset();
  slot.current.emplace(std::move(*fresh));
}

}  // namespace sidecar
