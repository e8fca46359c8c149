// credential_keeper_handoff.cc: the keeper's hand-off record: what it leaves, and how
// its successor takes it over (see credential_keeper.h and sidecar/ipc/handoff.h).
//
// SECURITY: the record's secrets are copied only between SecretBytes. The successor
// trusts nothing in it that Vault can check: the token is looked up (lookup-self) and
// each lease renewed (sys/leases/renew/<id>) before use; only while Vault does not answer are the
// record's own expiry times used, and never beyond them. Leases it does not take over
// are revoked (a dead token's leases die with it in Vault), so none is orphaned.
// ERRORS: none returned: what cannot be taken over is logged and left to start().
#include <algorithm>
#include <chrono>

#include "sidecar/base/log.h"
#include "sidecar/keeper/credential_keeper.h"

namespace sidecar {
namespace {

using foundation::SteadyTime;

std::uint64_t unixNow() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// FNV-1a, enough to notice a change (not a security function).
struct Fingerprint {
  std::uint64_t value = 14695981039346656037ull;
  void add(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      value ^= (v >> (8 * i)) & 0xff;
      value *= 1099511628211ull;
    }
  }
  void add(std::string_view s) {
    add(s.size());
    for (const char c : s) {
      value ^= static_cast<unsigned char>(c);
      value *= 1099511628211ull;
    }
  }
  void add(SteadyTime t) { add(static_cast<std::uint64_t>(t.time_since_epoch().count())); }
};

}  // namespace

void CredentialKeeper::noteSecretIdTtl(std::chrono::seconds ttl) {
  secret_id_ttl_seconds_ = ttl.count() > 0 ? static_cast<std::uint64_t>(ttl.count()) : 0;
  secret_id_expires_unix_ = secret_id_ttl_seconds_ > 0 ? unixNow() + secret_id_ttl_seconds_ : 0;
}

bool CredentialKeeper::secretIdExpiring(std::uint64_t now_unix, std::uint64_t& seconds_left) const {
  if (secret_id_expires_unix_ == 0) return false;
  seconds_left = secret_id_expires_unix_ > now_unix ? secret_id_expires_unix_ - now_unix : 0;
  std::uint64_t token_left = 0;
  if (token_life_) {
    const auto left =
        std::chrono::duration_cast<std::chrono::seconds>(token_life_->expiresAt() - clock_.now());
    token_left = left.count() > 0 ? static_cast<std::uint64_t>(left.count()) : 0;
  }
  return seconds_left <= std::max(secret_id_ttl_seconds_ / 4, token_left);
}

void CredentialKeeper::exportHandoff(ipc::HandoffState& out) const {
  const SteadyTime now = clock_.now();
  const std::uint64_t unix_now = unixNow();
  auto toUnix = [&](SteadyTime t) -> std::uint64_t {
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(t - now).count();
    return left <= 0 ? unix_now : unix_now + static_cast<std::uint64_t>(left);
  };
  out = ipc::HandoffState{};
  if (client_.hasToken() && token_life_) {
    out.token = client_.token().clone();
    out.token_accessor = token_accessor_;
    out.token_expires_unix = toUnix(token_life_->expiresAt());
    out.token_renewable = true;  // Lifetime asks Vault; a refusal is handled there
  }
  out.role_id = role_id_.clone();
  out.secret_id = secret_id_.clone();
  out.secret_id_expires_unix = secret_id_expires_unix_;
  auto add = [&](const Leased& leased, bool current) {
    if (out.leases.size() >= ipc::kMaxHandoffLeases) return;
    ipc::HandoffLease lease;
    lease.credential_path = leased.credential.credential_path;
    lease.lease_id = leased.credential.lease_id;
    lease.username = leased.credential.username.clone();
    lease.password = leased.credential.password.clone();
    lease.expires_unix = toUnix(leased.life.expiresAt());
    lease.renewable = true;
    lease.current = current;
    out.leases.push_back(std::move(lease));
  };
  for (const auto& slot : slots_) {
    // An SES login still waiting for IAM is not handed on as usable: it is revoked.
    if (slot.current) add(*slot.current, slot.current->usable_announced);
    if (slot.pending) add(*slot.pending, false);
  }
  for (const auto& r : retiring_) {
    if (out.leases.size() >= ipc::kMaxHandoffLeases) break;
    ipc::HandoffLease lease;
    lease.lease_id = r.lease_id;
    lease.expires_unix = toUnix(r.give_up_at);
    out.leases.push_back(std::move(lease));
  }
  for (const auto& old : old_tokens_) {
    if (out.old_tokens.size() >= ipc::kMaxHandoffOldTokens) break;
    out.old_tokens.push_back(old.token.clone());
  }
}

std::uint64_t CredentialKeeper::handoffFingerprint() const noexcept {
  Fingerprint f;
  f.add(client_.hasToken() ? 1 : 0);
  f.add(token_accessor_);
  if (token_life_) f.add(token_life_->expiresAt());
  f.add(role_id_.size());
  f.add(secret_id_.size());
  f.add(secret_id_expires_unix_);
  for (const auto& slot : slots_) {
    f.add(slot.path);
    for (const auto* leased :
         {slot.current ? &*slot.current : nullptr, slot.pending ? &*slot.pending : nullptr}) {
      if (leased == nullptr) {
        f.add(0);
        continue;
      }
      f.add(leased->credential.lease_id);
      f.add(leased->life.expiresAt());
      f.add(leased->usable_announced ? 1 : 0);
    }
  }
  for (const auto& r : retiring_) f.add(r.lease_id);
  f.add(old_tokens_.size());
  return f.value;
}

void CredentialKeeper::adoptHandoff(ipc::HandoffState state, Changes& changes) {
  const SteadyTime now = clock_.now();
  const std::uint64_t unix_now = unixNow();
  auto remaining = [&](std::uint64_t expires_unix) {
    return std::chrono::seconds(expires_unix > unix_now ? expires_unix - unix_now : 0);
  };
  if (!state.role_id.empty()) role_id_ = std::move(state.role_id);
  if (!state.secret_id.empty()) {
    secret_id_ = std::move(state.secret_id);
    secret_id_from_handoff_ = true;
  }
  secret_id_expires_unix_ = state.secret_id_expires_unix;

  bool token_live = false;
  if (!state.token.empty()) {
    client_.setToken(std::move(state.token));
    auto self = client_.lookupSelf();
    if (self && self->ttl.count() > 0) {
      token_life_.emplace(now, self->ttl, self->renewable, policy(), uniform_);
      token_accessor_ = self->accessor;
      token_live = true;
      log::info("handoff_token_adopted",
                {{"accessor", token_accessor_},
                 {"ttl_seconds", static_cast<std::int64_t>(self->ttl.count())}});
    } else if (!self && self.error().kind == foundation::ErrorKind::Temporary &&
               remaining(state.token_expires_unix).count() > 0) {
      // Vault does not answer: the token is used until the record says it expires, as
      // the dead keeper would have; lookups and renewals are retried by the ticks.
      const auto left = remaining(state.token_expires_unix);
      token_life_.emplace(now, left, state.token_renewable, policy(), uniform_);
      token_accessor_ = state.token_accessor;
      token_live = true;
      log::warn("handoff_token_adopted_unverified",
                {{"accessor", token_accessor_},
                 {"ttl_seconds", static_cast<std::int64_t>(left.count())},
                 {"error", self.error().message}});
    } else {
      // Revoked or expired: Vault revoked its leases with it.
      (void)client_.takeToken();
      log::warn("handoff_token_dead", {{"accessor", state.token_accessor},
                                       {"error", self ? "no TTL left" : self.error().message}});
    }
  }

  std::size_t adopted = 0;
  std::size_t revoking = 0;
  for (auto& lease : state.leases) {
    if (!token_live) break;  // children of a dead token: gone already
    Slot* slot = nullptr;
    if (lease.current) {
      for (auto& s : slots_) {
        if (s.path == lease.credential_path && !s.current) slot = &s;
      }
    }
    if (slot != nullptr) {
      // A renewal (the path form, which the app's policy grants for its own leases:
      // sys/leases/lookup takes the id in its body, which a policy cannot scope) both
      // proves Vault still knows the lease and says how long it has.
      auto info = client_.renewLease(lease.lease_id, std::chrono::seconds(0));
      std::chrono::seconds ttl{0};
      bool renewable = lease.renewable;
      if (info) {
        ttl = info->ttl;
        renewable = info->renewable;
      } else if (info.error().kind == foundation::ErrorKind::Temporary) {
        ttl = remaining(lease.expires_unix);
      }
      if (ttl.count() > 0) {
        log::info("handoff_lease_adopted", {{"path", lease.credential_path},
                                            {"lease_id", lease.lease_id},
                                            {"ttl_seconds", static_cast<std::int64_t>(ttl.count())},
                                            {"verified", static_cast<bool>(info)}});
        slot->current.emplace(
            Leased{ipc::SmtpCredential{std::move(lease.username), std::move(lease.password),
                                       lease.lease_id, lease.credential_path},
                   vault::Lifetime(now, ttl, renewable, policy(), uniform_), now, true});
        ++generation_;
        ++adopted;
        changes.credential_changed = true;
        continue;
      }
      // Refused (gone, or no longer renewable): revoked to be sure, and leased anew.
      log::warn(
          "handoff_lease_not_taken_over",
          {{"lease_id", lease.lease_id}, {"error", info ? "no TTL left" : info.error().message}});
    }
    // Retiring, waiting for IAM, or a path no longer configured: revoked at once (the
    // worker's connections on it are closed when the revocation is announced).
    retiring_.push_back({lease.lease_id, now, std::max(now + remaining(lease.expires_unix), now)});
    ++revoking;
  }
  for (auto& token : state.old_tokens) old_tokens_.push_back({std::move(token), now});
  log::info("handoff_taken_over",
            {{"token", token_live},
             {"leases_adopted", static_cast<std::int64_t>(adopted)},
             {"leases_to_revoke", static_cast<std::int64_t>(revoking)},
             {"old_tokens_to_revoke", static_cast<std::int64_t>(old_tokens_.size())}});
}

}  // namespace sidecar
