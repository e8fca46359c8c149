// lifetime_test.cc: renewal timing, the max-TTL signal, retries and expiry, driven by
// a fake clock through hours of lease time.
#include "vault/lifetime.h"

#include <doctest/doctest.h>

using namespace vault;
using namespace std::chrono_literals;
using Action = Lifetime::Action;

namespace {
const foundation::SteadyTime t0{std::chrono::hours(1)};
LifetimePolicy noJitter() {
  LifetimePolicy p;
  p.jitter = 0;
  p.retry.jitter = 0;
  return p;
}
foundation::UniformSource fixed(double u) {
  return [u] { return u; };
}
}  // namespace

TEST_CASE("renews at two thirds of the TTL, earlier by at most the jitter") {
  Lifetime plain(t0, 300s, true, noJitter(), fixed(0.5));
  CHECK((plain.due(t0 + 199s) == Action::Wait));
  CHECK((plain.due(t0 + 200s) == Action::Renew));
  LifetimePolicy jittered;  // 10 %
  Lifetime early(t0, 300s, true, jittered, fixed(1.0));
  CHECK(early.nextAt() == t0 + 180s);
  Lifetime late(t0, 300s, true, jittered, fixed(0.0));
  CHECK(late.nextAt() == t0 + 200s);
}

TEST_CASE("a full renewal schedules the next one; hours of renewals stay on time") {
  Lifetime life(t0, 300s, true, noJitter(), fixed(0));
  foundation::SteadyTime now = t0;
  for (int i = 0; i < 100; ++i) {  // 100 renewals = 5.5 hours of lease time
    now = life.nextAt();
    REQUIRE((life.due(now) == Action::Renew));
    life.renewed(now, 300s, true);
    CHECK(life.expiresAt() == now + 300s);
  }
  CHECK(now == t0 + 100 * 200s);
}

TEST_CASE("a renewal granting less than asked (max TTL near) signals Replace at once") {
  Lifetime life(t0, 300s, true, noJitter(), fixed(0));
  const foundation::SteadyTime now = t0 + 200s;
  life.renewed(now, 120s, true);  // capped by max_ttl
  CHECK((life.due(now) == Action::Replace));
  CHECK(life.expiresAt() == now + 120s);  // still usable while it is replaced
  CHECK(life.replacing());
}

TEST_CASE("a non-renewable secret is replaced at the renewal point") {
  Lifetime life(t0, 90s, false, noJitter(), fixed(0));
  CHECK((life.due(t0 + 59s) == Action::Wait));
  CHECK((life.due(t0 + 60s) == Action::Replace));
  CHECK((life.due(t0 + 90s) == Action::Expired));
}

TEST_CASE("a renewal that becomes non-renewable signals Replace") {
  Lifetime life(t0, 300s, true, noJitter(), fixed(0));
  life.renewed(t0 + 200s, 300s, false);
  CHECK((life.due(t0 + 200s) == Action::Replace));
}

TEST_CASE("temporary renewal failures back off while the secret lives, then it expires") {
  Lifetime life(t0, 300s, true, noJitter(), fixed(0));
  foundation::SteadyTime now = t0 + 200s;
  const foundation::Error down = foundation::Error::temporary("connection refused");
  life.renewFailed(now, down);
  CHECK(life.nextAt() == now + 1s);
  now = life.nextAt();
  life.renewFailed(now, down);
  CHECK(life.nextAt() == now + 2s);
  now = life.nextAt();
  life.renewFailed(now, down);
  CHECK(life.nextAt() == now + 4s);
  CHECK((life.due(t0 + 299s) == Action::Renew));  // keeps trying while alive
  CHECK((life.due(t0 + 300s) == Action::Expired));
  // Vault is back: a success resets the backoff.
  life.renewed(t0 + 250s, 300s, true);
  life.renewFailed(t0 + 450s, down);
  CHECK(life.nextAt() == t0 + 451s);
}

TEST_CASE("backoff is capped") {
  Lifetime life(t0, 24h, true, noJitter(), fixed(0));
  foundation::SteadyTime now = t0 + 16h;
  for (int i = 0; i < 20; ++i) {
    life.renewFailed(now, foundation::Error::temporary("down"));
    now = life.nextAt();
  }
  life.renewFailed(now, foundation::Error::temporary("down"));
  CHECK(life.nextAt() - now == 30s);
}

TEST_CASE("a permanent renewal failure (revoked, token gone) means Replace now") {
  Lifetime life(t0, 300s, true, noJitter(), fixed(0));
  life.renewFailed(t0 + 200s, foundation::Error::permanent("HTTP 403: permission denied"));
  CHECK((life.due(t0 + 200s) == Action::Replace));
  life.replaceFailed(t0 + 200s);
  CHECK((life.due(t0 + 200s) == Action::Wait));
  CHECK((life.due(t0 + 201s) == Action::Replace));
}

TEST_CASE("a zero TTL never expires and never needs work") {
  Lifetime life(t0, 0s, false, noJitter(), fixed(0));
  CHECK((life.due(t0 + 24h * 365) == Action::Wait));
}

TEST_CASE("an explicit increment is asked instead of the first TTL") {
  LifetimePolicy p = noJitter();
  p.increment = 3600s;
  Lifetime life(t0, 300s, true, p, fixed(0));
  CHECK(life.increment() == 3600s);
  life.renewed(t0 + 200s, 3600s, true);
  CHECK(life.nextAt() == t0 + 200s + 2400s);
}
