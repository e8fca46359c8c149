// lifetime.cc: see lifetime.h.
//
// SECURITY: none (no secrets; time arithmetic only).
// ERRORS: none.
#include "vault/lifetime.h"

#include <algorithm>

namespace vault {
namespace {
constexpr foundation::SteadyTime kNever = foundation::SteadyTime::max();
}

Lifetime::Lifetime(foundation::SteadyTime now, std::chrono::seconds ttl, bool renewable,
                   LifetimePolicy policy, foundation::UniformSource uniform)
    : policy_(policy),
      uniform_(uniform),
      backoff_(policy.retry, std::move(uniform)),
      increment_(policy.increment.count() > 0 ? policy.increment : ttl) {
  if (ttl.count() == 0) {  // does not expire: nothing to do, ever
    expires_ = next_ = kNever;
    return;
  }
  expires_ = now + ttl;
  scheduleRenewal(now, ttl);
  if (!renewable) replace_ = true;  // it can only be replaced, at the renewal point
}

void Lifetime::scheduleRenewal(foundation::SteadyTime now, std::chrono::seconds ttl) {
  const double factor =
      policy_.renew_fraction * (1.0 - policy_.jitter * std::clamp(uniform_(), 0.0, 1.0));
  next_ = now + std::chrono::duration_cast<foundation::SteadyTime::duration>(
                    std::chrono::duration<double>(static_cast<double>(ttl.count()) * factor));
}

Lifetime::Action Lifetime::due(foundation::SteadyTime now) const {
  // A backoff holds every action, Expired included: the owner reports the outcome of
  // each attempt, so an unreachable Vault is not asked again at once. Whether the
  // secret may still be used is expired(), which ignores the backoff.
  if (now < next_) return Action::Wait;
  if (expired(now)) return Action::Expired;
  return replace_ ? Action::Replace : Action::Renew;
}

void Lifetime::renewed(foundation::SteadyTime now, std::chrono::seconds granted, bool renewable) {
  backoff_.reset();
  expires_ = now + granted;
  if (!renewable || granted + policy_.shortfall_tolerance < increment_) {
    // Capped by the max TTL (or no longer renewable): this one ends at expires_.
    // Replace at once, while all of the remaining TTL is there to rotate in.
    replace_ = true;
    next_ = now;
    return;
  }
  scheduleRenewal(now, granted);
}

void Lifetime::renewFailed(foundation::SteadyTime now, const foundation::Error& error) {
  if (error.kind != foundation::ErrorKind::Temporary) {
    replace_ = true;
    next_ = now;
    return;
  }
  next_ = now + backoff_.next();
}

void Lifetime::replaceFailed(foundation::SteadyTime now) {
  replace_ = true;
  next_ = now + backoff_.next();
}

const char* toString(Lifetime::Action action) noexcept {
  switch (action) {
    case Lifetime::Action::Wait:
      return "wait";
    case Lifetime::Action::Renew:
      return "renew";
    case Lifetime::Action::Replace:
      return "replace";
    case Lifetime::Action::Expired:
      return "expired";
  }
  return "unknown";
}

}  // namespace vault
