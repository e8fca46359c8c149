// keeper_answers.cc: see keeper_answers.h.
//
// SECURITY: pure; reads the published state (credentials only as present/absent).
// ERRORS: none.
#include "sidecar/keeper/keeper_answers.h"

#include <chrono>

namespace sidecar::keeper {

namespace {
// A Vault call running longer than this is reported as stalled (a hung Vault).
constexpr auto kStalledAfter = std::chrono::seconds(5);
}  // namespace

bool spoolKeyShaped(std::string_view wrapped) {
  return wrapped.empty() ||
         (wrapped.rfind("vault:v", 0) == 0 &&
          wrapped.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789+/=:") == std::string_view::npos);
}

telemetry::KeeperFigures keeperFigures(const KeeperState& state, foundation::SteadyTime now,
                                       std::uint64_t now_unix) {
  telemetry::KeeperFigures figures;
  const auto& stats = state.stats;
  figures.leases_active = state.leases_active;
  figures.lease_renewals = stats.lease_renewals;
  figures.lease_renewal_failures = stats.lease_renewal_failures;
  figures.token_renewals = stats.token_renewals;
  figures.token_renewal_failures = stats.token_renewal_failures;
  figures.logins = stats.logins;
  figures.login_failures = stats.login_failures;
  for (const auto& [reason, count] : stats.rotations) figures.rotations.push_back({reason, count});
  for (const auto& p : state.paths) {
    std::uint64_t seconds = 0;
    if (p.credential && now < p.expires_at) {
      seconds = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::seconds>(p.expires_at - now).count());
    }
    figures.expiry.push_back({p.path, seconds});
  }
  figures.credential_valid_seconds = validSeconds(state, now);
  figures.approle_locked_out = state.login_state == CredentialKeeper::LoginState::LockedOut ? 1 : 0;
  figures.secret_id_rejected =
      state.login_state == CredentialKeeper::LoginState::SecretIdRejected ? 1 : 0;
  figures.lockouts_detected = stats.lockouts_detected;
  figures.token_revocations_detected = stats.token_revocations_detected;
  figures.vault_call_stalled =
      state.vault_call_running && now - state.vault_call_since > kStalledAfter ? 1 : 0;
  if (const std::uint64_t expires = state.secret_id_expires_unix; expires != 0) {
    figures.secret_id_expiry_known = true;
    figures.secret_id_expires_seconds = expires > now_unix ? expires - now_unix : 0;
  }
  return figures;
}

}  // namespace sidecar::keeper
