// credential_keeper.h: the credential lifecycle: AppRole login, the leased SMTP
// credential, renewal, rotation with overlap, re-authentication, revocation.
//
// SECURITY: the only holder of the Vault token (inside vault::Client), of the AppRole
// secret_id (kept in locked memory for re-authentication) and of the leased SMTP
// credential (for an oauth2: path, the OAuth2 access token, credential_keeper_oauth.cc). role_id
// and secret_id are read from files straight into locked memory; they are never taken from argv. A
// wrapped secret_id is unwrapped only after its creation path was checked
// (vault::Client::unwrapSecretId). A sender gets the credential for one send (withCredential
// encodes it for the worker) and drops it. ERRORS: Result values; login errors are Permanent for
// refused credentials and Temporary for an unreachable Vault. Once running, Vault failures never
// drop a credential that is still valid: it is used until it expires while renewal and rotation are
// retried with backoff (also after the SMTP server refused it: the old one is kept until a
// replacement is leased). A 403 on the token means a new login at once; a refused or locked-out
// AppRole login is never retried in a way that could lock the role out (see LoginState).
//
// Threads: not thread-safe. In the keeper role it lives on the Vault-call thread
// (vault_call_thread.h); the keeper's loop answers the worker from view(), whose
// credentials are shared (never copied) with this object.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sidecar/base/config.h"
#include "sidecar/ipc/credential.h"
#include "sidecar/ipc/handoff.h"
#include "sidecar/keeper/oauth_token_holder.h"
#include "vault/client.h"
#include "vault/lifetime.h"

namespace sidecar {

// Reads a small secret file (role_id, secret_id) into locked memory, without a
// trailing newline. Refuses empty files, files over 4 KiB and symlinks.
foundation::Result<foundation::SecretBytes> readSecretFile(const std::string& path,
                                                           const char* what);

// The token request settings of an [[oauth2]] client (its authentication method parsed,
// the endpoint's scheme and loopback rule checked): the keeper's and doctor's one
// conversion. Permanent error naming the client.
foundation::Result<keeper::TokenSourceSettings> tokenSourceSettingsOf(const OAuth2Client& client);
// Where an [[oauth2]] client's secret or key lives in Vault KV.
keeper::ClientMaterialLocation clientMaterialOf(const OAuth2Client& client);

class CredentialKeeper {
 public:
  // Running totals for metrics (the keeper sends them to the worker on request).
  struct Stats {
    std::uint64_t lease_renewals = 0;
    std::uint64_t lease_renewal_failures = 0;
    std::uint64_t token_renewals = 0;
    std::uint64_t token_renewal_failures = 0;
    std::uint64_t logins = 0;
    std::uint64_t login_failures = 0;
    std::map<std::string, std::uint64_t> rotations;  // by reason (a fixed word)
    std::uint64_t lockouts_detected = 0;             // AppRole logins answered "locked out"
    std::uint64_t secret_ids_rejected = 0;           // AppRole logins refused for the secret_id
    std::uint64_t token_revocations_detected = 0;    // the token was found dead (403)
  };

  // Whether the keeper may log in with what it holds. Anything but Ok holds further
  // logins back for long: OpenBao's user lockout counts every failed login of the
  // role_id (5 by default within 15 minutes locks it for every instance).
  enum class LoginState {
    Ok,
    SecretIdRejected,  // Vault refused the secret_id (expired, used up, destroyed)
    LockedOut,         // Vault answers every login of this role_id with a lockout
  };

  // One path's credential as the keeper's loop sees it: shared with this object,
  // so handing it to the loop copies no secret.
  struct PathView {
    std::string path;
    std::shared_ptr<const ipc::SmtpCredential> credential;  // null: none
    foundation::SteadyTime usable_at{};                     // an SES login waits for IAM until then
    foundation::SteadyTime expires_at{};                    // never handed out from then on
  };

  // What changed in a call, for the worker.
  struct Changes {
    bool credential_changed = false;          // a new one, or none any more
    std::vector<std::string> retired_leases;  // revoked: close connections that used them
    // credentialRefused() calls done in this round: the keeper's loop holds requests for
    // a refused credential until its refusal was handled (keeper_main.cc).
    std::uint64_t refusals_handled = 0;
  };

  // One credential lifecycle per entry of `credential_paths` (one per distinct
  // profile path; empty: settings.credential_path alone). The token is shared.
  CredentialKeeper(VaultSettings settings, vault::Client& client,
                   foundation::Clock& clock = foundation::systemClock(),
                   foundation::UniformSource uniform = foundation::systemUniform(),
                   std::vector<std::string> credential_paths = {});

  // Reads role_id and secret_id (unwrapping it if configured), logs in, leases the
  // credential. Safe to call again after a Temporary failure: what is done stays done
  // (a wrapped secret_id can be unwrapped only once).
  foundation::Status start();

  // With vault.secret_id_from_environment: the secret_id (or its wrapping token) the
  // supervisor handed over, used by start() instead of the file.
  void giveSecretId(foundation::SecretBytes secret_id) { given_secret_id_ = std::move(secret_id); }

  // Does whatever is due now: renewals, rotation before a max TTL, re-login when the
  // token ends, revocation of retired leases and tokens. Returns when to call again.
  foundation::SteadyTime tick(Changes& changes);

  // The SMTP server refused `lease_id` (its login is gone): replace it now.
  void credentialRefused(const std::string& lease_id, Changes& changes);

  // Calls fn(const ipc::SmtpCredential&) with the current credential of path
  // `index`, so it can be encoded without another copy. False if there is none (or it
  // has expired, or there is no such path).
  // An SES login is handed out only once IAM has had vault.ses_propagation to learn
  // its key (until then: false, or the previous credential during a rotation).
  template <typename Fn>
  bool withCredential(std::size_t index, Fn&& fn) const {
    const Leased* usable = index < slots_.size() ? usableCredential(slots_[index]) : nullptr;
    if (usable == nullptr) return false;
    fn(*usable->credential);
    return true;
  }
  // Every path holds a valid credential.
  bool ready() const;
  std::size_t pathCount() const noexcept { return slots_.size(); }
  const std::string& path(std::size_t index) const { return slots_.at(index).path; }
  std::uint64_t generation() const noexcept { return generation_; }
  // Seconds until the first current credential expires (0 if a path has none).
  std::uint64_t secondsToExpiry() const;
  // Seconds until path `index`'s current credential expires (0 without one).
  std::uint64_t secondsToExpiry(std::size_t index) const;
  // Every path's current credential with its validity (for the keeper's loop).
  std::vector<PathView> view() const;
  LoginState loginState() const noexcept { return login_state_; }
  // Until when logins are held back (LoginState other than Ok).
  foundation::SteadyTime loginBlockedUntil() const noexcept { return login_blocked_until_; }

  // Leases held: each path's current one, a replacement waiting for IAM, and those
  // retiring (revoked after the grace). OAuth2 tokens are not counted.
  std::size_t leasesActive() const noexcept;
  const Stats& stats() const noexcept { return stats_; }
  // Called after every change of stats(), before the event it counts is logged, so a
  // reader of both (metrics beside the log) never sees an event the figure lacks. The
  // Vault thread publishes the figures with it while a round's later calls still wait.
  void onStatsChanged(std::function<void()> listener) { stats_listener_ = std::move(listener); }

  // SIGHUP: takes the settings that apply without a new login (rotation grace; the
  // credential paths: a new path is leased at the next tick, a path no longer used
  // has its lease retired after the grace). Returns the keys that need a restart to
  // change (Vault address, TLS, AppRole files). `credential_paths` as in the
  // constructor.
  std::vector<std::string> reconfigure(const VaultSettings& settings,
                                       std::vector<std::string> credential_paths = {});

  // Revokes every lease and then the tokens. Idempotent.
  foundation::Status revokeAll();

  // ---- hand-off to a successor (issue 14; credential_keeper_handoff.cc) ----
  // What a keeper started after this one died needs to take over: the token, role_id
  // and secret_id, each path's usable credential and the leases and tokens still to be
  // revoked. Copies of secrets, in locked memory.
  void exportHandoff(ipc::HandoffState& out) const;
  // Changes whenever what exportHandoff() would write changes (logins, leases,
  // renewals, rotations, revocations), so the record is rewritten only then.
  std::uint64_t handoffFingerprint() const noexcept;
  // Takes over a dead predecessor's record, before start(): its token if Vault still
  // knows it (lookup-self; its remaining TTL in the record if Vault does not answer),
  // each path's lease if Vault still renews it, the rest revoked by the next ticks.
  // A dead token's leases died with it. start() then logs in (with the record's
  // secret_id, else as configured) only if no token was taken over, and leases only the
  // paths without a credential.
  void adoptHandoff(ipc::HandoffState state, Changes& changes);
  // When the AppRole secret_id expires, Unix seconds (0: unknown or never), and the
  // TTL it had when it was unwrapped.
  std::uint64_t secretIdExpiresUnix() const noexcept { return secret_id_expires_unix_; }
  // A warning is due (issue 14 (2)): the secret_id expires before the current token
  // does, or within a quarter of its TTL, so the next re-login would fail unless a new
  // one is delivered. `now_unix`: the wall clock. Says how many seconds are left.
  bool secretIdExpiring(std::uint64_t now_unix, std::uint64_t& seconds_left) const;
  // The [[oauth2]] clients that "oauth2:<name>" credential paths name
  // (credential_keeper_oauth.cc): such a path holds an access token from the client's
  // token endpoint instead of a Vault lease, refreshed before it expires and once when
  // the SMTP server refuses it. Call before start(), and on SIGHUP: a changed client is
  // used from its next token on. `make_fetcher` (tests) stands in for the endpoint.
  using TokenFetcherFactory =
      std::function<foundation::Result<std::unique_ptr<keeper::TokenFetcher>>(
          const keeper::TokenSourceSettings&)>;
  void useOAuth2Clients(std::vector<OAuth2Client> clients, TokenFetcherFactory make_fetcher = {});

 private:
  struct Leased {
    // Shared with view()'s readers; replaced, never changed, so they need no lock.
    std::shared_ptr<const ipc::SmtpCredential> credential;
    vault::Lifetime life;
    foundation::SteadyTime usable_at{};  // later than the lease for an SES login (IAM propagation)
    bool usable_announced = false;       // the worker was told it may be used (Changes)
    bool vault_lease = true;  // false: an OAuth2 access token (nothing to revoke at Vault)
  };
  struct Retiring {
    std::string lease_id;
    foundation::SteadyTime revoke_at;
    foundation::SteadyTime give_up_at;  // its expiry: Vault has revoked it by then
    bool vault_lease = true;            // false: an OAuth2 token, only its connections close
  };
  struct OldToken {
    foundation::SecretBytes token;
    foundation::SteadyTime revoke_at;
  };

  // One credential path's lifecycle.
  struct Slot {
    std::string path;
    std::optional<Leased> current;
    // A rotation's replacement that may not be used yet (an SES login waiting for IAM):
    // `current` serves until then, and is retired when this one takes over.
    std::optional<Leased> pending;
    foundation::Backoff lease_retry;
    foundation::SteadyTime lease_retry_at{};
    // An "oauth2:<name>" path: the client's name, and once prepared its token source
    // and the settings it was made from.
    std::string oauth_name;
    std::unique_ptr<keeper::OAuthTokenHolder> oauth;
    OAuth2Client oauth_client;
    // After a refusal whose replacement failed: further refusals of the kept
    // credential wait for this instead of asking Vault once per failed send.
    foundation::SteadyTime refused_retry_at{};
  };

  Slot makeSlot(std::string path) const;
  const Leased* usableCredential(const Slot& slot) const;
  void tickSlot(Slot& slot, foundation::SteadyTime now, Changes& changes);
  void retire(Leased& old, foundation::SteadyTime retire_old_at);
  foundation::Status obtainSecretId();
  void noteSecretIdTtl(std::chrono::seconds ttl);
  foundation::Status useSecretId(foundation::SecretBytes given, const std::string& source);
  foundation::Status login(foundation::SteadyTime now);
  // A failed login: decides whether it was the secret_id, a lockout or Vault.
  void loginFailed(const foundation::Error& error, foundation::SteadyTime now);
  // May a login be tried now (LoginState, and the same secret_id Vault refused)?
  bool loginAllowed(foundation::SteadyTime now);
  // A Vault answer to a call made with the token: remembers a 403 for checkToken().
  void noteTokenAnswer(const foundation::Error& error);
  // Asks Vault whether the token still works (lookup-self); a 403 means it was
  // revoked from outside: log in again at once. True when the token is gone.
  bool checkToken(foundation::SteadyTime now, Changes& changes);
  foundation::Result<Leased> leaseNew(const std::string& path, foundation::SteadyTime now);
  void renewToken(foundation::SteadyTime now);
  // `token_dead`: the old token was revoked (its leases with it): the old leases are
  // retired at once instead of after the grace.
  void reauthenticate(foundation::SteadyTime now, Changes& changes, bool token_dead = false);
  void renewLease(Slot& slot, foundation::SteadyTime now);
  // Leases a new credential for the slot, makes it current and retires the old one
  // at `retire_old_at`. False (and the old one kept) when leasing failed.
  bool rotate(Slot& slot, foundation::SteadyTime now, foundation::SteadyTime retire_old_at,
              const char* reason, Changes& changes);
  void revokeDue(foundation::SteadyTime now, Changes& changes);
  vault::LifetimePolicy policy() const;
  // credential_keeper_oauth.cc: the OAuth2 slots.
  foundation::Result<Leased> obtain(Slot& slot, foundation::SteadyTime now);
  foundation::Status prepareOAuth(Slot& slot);
  foundation::Result<Leased> fetchToken(Slot& slot, foundation::SteadyTime now);
  void tickOAuthSlot(Slot& slot, foundation::SteadyTime now, Changes& changes);
  void oauthRefused(Slot& slot, foundation::SteadyTime now, Changes& changes);

  VaultSettings settings_;
  vault::Client& client_;
  foundation::Clock& clock_;
  foundation::UniformSource uniform_;
  foundation::SecretBytes role_id_;
  foundation::SecretBytes secret_id_;
  foundation::SecretBytes given_secret_id_;
  std::uint64_t secret_id_expires_unix_ = 0;
  std::uint64_t secret_id_ttl_seconds_ = 0;
  bool secret_id_from_handoff_ = false;  // may have been single-use: fall back if refused
  std::string token_accessor_;
  std::optional<vault::Lifetime> token_life_;
  std::vector<Slot> slots_;
  std::vector<Retiring> retiring_;
  std::vector<OldToken> old_tokens_;
  std::uint64_t generation_ = 0;
  Stats stats_;
  std::function<void()> stats_listener_;
  void count(std::uint64_t& counter);
  void countRotation(const std::string& reason);
  std::vector<OAuth2Client> oauth_clients_;
  TokenFetcherFactory make_fetcher_;
  std::uint64_t tokens_obtained_ = 0;  // numbers the tokens' ids
  LoginState login_state_ = LoginState::Ok;
  foundation::SteadyTime login_blocked_until_{};
  // BLAKE2b of the secret_id Vault refused (not the secret): the same one is never
  // tried again, whoever hands it over again.
  std::optional<std::array<unsigned char, 32>> rejected_secret_id_;
  bool token_denied_ = false;  // a call made with the token got a 403: check it
  bool held_back_logged_ = false;
  bool login_held_back_ = false;  // the last login() was not sent (loginAllowed)  //
                                  // vault_login_held_back once per refused secret_id
  bool token_dead_ = false;       // renew-self got a 403: the token is gone, log in again
  std::optional<foundation::SteadyTime> last_revoked_login_at_;
};

}  // namespace sidecar
