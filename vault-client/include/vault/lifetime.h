// lifetime.h: when to renew, and when to replace, one token or lease.
//
// A Lifetime is a pure state machine over an injected time: the owner asks due(now),
// performs the action against Vault, and reports the outcome back. Tests drive hours
// of lease time in microseconds. Rules:
//  - renew at about two thirds of the granted TTL, a little earlier by jitter, so many
//    clients do not renew in step;
//  - a renewal that grants less than was asked means the max TTL is near; a secret
//    that is not renewable cannot be extended at all: in both cases signal Replace
//    while the remaining TTL still covers a rotation;
//  - a failed renewal is retried with backoff while the secret is alive (Vault may be
//    briefly unreachable); a permanent failure (revoked, unknown) means Replace now;
//  - past its expiry the secret is Expired and must not be used.
//
// SECURITY: holds no secret (times and durations only).
// ERRORS: none; outcomes are reported by the owner.
#pragma once

#include <chrono>

#include "foundation/clock.h"
#include "foundation/result.h"

namespace vault {

struct LifetimePolicy {
  double renew_fraction = 2.0 / 3.0;  // of the TTL granted last
  double jitter = 0.1;                // renew up to this fraction of the delay earlier
  std::chrono::seconds increment{0};  // asked on renewal; 0: the TTL first granted
  // Replace (not renew) when a renewal grants at most this much less than asked.
  std::chrono::seconds shortfall_tolerance{1};
  foundation::BackoffPolicy retry{std::chrono::seconds(1), std::chrono::seconds(30), 2.0, 0.2};
};

class Lifetime {
 public:
  enum class Action {
    Wait,     // nothing before nextAt()
    Renew,    // ask Vault to extend it
    Replace,  // get a new one now; this one ends soon (or cannot be extended)
    Expired,  // past its end: get a new one (and report the outcome like Replace)
  };

  // A secret granted `ttl` at `now`. A zero TTL never expires (e.g. a root token).
  Lifetime(foundation::SteadyTime now, std::chrono::seconds ttl, bool renewable,
           LifetimePolicy policy = {},
           foundation::UniformSource uniform = foundation::systemUniform());

  Action due(foundation::SteadyTime now) const;
  bool expired(foundation::SteadyTime now) const noexcept { return now >= expires_; }
  foundation::SteadyTime nextAt() const noexcept { return next_; }
  foundation::SteadyTime expiresAt() const noexcept { return expires_; }
  std::chrono::seconds increment() const noexcept { return increment_; }
  bool replacing() const noexcept { return replace_; }

  // A renewal granted `granted` seconds from `now`.
  void renewed(foundation::SteadyTime now, std::chrono::seconds granted, bool renewable);
  // A renewal failed: Temporary → retry with backoff; otherwise → Replace now.
  void renewFailed(foundation::SteadyTime now, const foundation::Error& error);
  // Getting a replacement failed: try again after backoff (the old one stays usable
  // until it expires).
  void replaceFailed(foundation::SteadyTime now);

 private:
  void scheduleRenewal(foundation::SteadyTime now, std::chrono::seconds ttl);
  LifetimePolicy policy_;
  foundation::UniformSource uniform_;
  foundation::Backoff backoff_;
  std::chrono::seconds increment_;
  foundation::SteadyTime expires_;
  foundation::SteadyTime next_;
  bool replace_ = false;
};

const char* toString(Lifetime::Action action) noexcept;

}  // namespace vault
