// profile_test.cc: peer -> profile, the token bucket on a fake clock.
#include "sidecar/intake/profile.h"

#include <doctest/doctest.h>

using namespace sidecar;
using namespace sidecar::profile;
using namespace std::chrono_literals;

namespace {

Profile make(const char* name, std::vector<std::uint32_t> uids, std::vector<std::uint32_t> gids) {
  Profile p;
  p.name = name;
  p.uids = std::move(uids);
  p.gids = std::move(gids);
  return p;
}

}  // namespace

TEST_CASE("peer -> profile: uid before gid, first match wins") {
  const std::vector<Profile> profiles = {
      make("staff", {}, {50}),   make("web", {1000, 1001}, {}), make("web-too", {1000}, {}),
      make("mail", {}, {8, 50}), make("root", {0}, {}),
  };
  struct Case {
    const char* name;
    Peer peer;
    const char* want;  // nullptr: no profile
  };
  const Case cases[] = {
      {"uid listed", {1001, 999, 1}, "web"},
      {"uid in two profiles: the first", {1000, 999, 1}, "web"},
      {"uid wins over an earlier gid match", {1000, 50, 1}, "web"},
      {"gid only: the first profile listing it", {2000, 50, 1}, "staff"},
      {"gid of a later profile", {2000, 8, 1}, "mail"},
      {"root by uid", {0, 0, 1}, "root"},
      {"nobody", {65534, 65534, 1}, nullptr},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      const Profile* got = match(profiles, c.peer);
      if (c.want == nullptr) {
        CHECK(got == nullptr);
      } else {
        REQUIRE(got != nullptr);
        CHECK(got->name == c.want);
      }
    }
  }
}

TEST_CASE("the implicit default profile matches every peer") {
  Profile everyone;
  everyone.name = "default";
  everyone.matches_everyone = true;
  const std::vector<Profile> profiles = {everyone};
  const Profile* got = match(profiles, {65534, 65534, 7});
  REQUIRE(got != nullptr);
  CHECK(got->name == "default");
  CHECK(match({}, {0, 0, 1}) == nullptr);
}

TEST_CASE("token bucket: burst, refill, retry-after on a fake clock") {
  const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  TokenBucket bucket(60, 3, t0);  // one token per second, three at most
  CHECK(bucket.take(t0));
  CHECK(bucket.take(t0));
  CHECK(bucket.take(t0));
  CHECK_FALSE(bucket.take(t0));
  CHECK(bucket.retryAfterSeconds(t0) == 1);
  CHECK_FALSE(bucket.take(t0 + 500ms));
  CHECK(bucket.retryAfterSeconds(t0 + 500ms) == 1);  // rounded up
  CHECK(bucket.take(t0 + 1s));
  CHECK_FALSE(bucket.take(t0 + 1s));
  // A long pause refills to the burst, not beyond.
  const auto later = t0 + 1h;
  CHECK(bucket.retryAfterSeconds(later) == 0);
  int taken = 0;
  while (bucket.take(later)) ++taken;
  CHECK(taken == 3);
}

TEST_CASE("token bucket: slow rates give long Retry-After") {
  const auto t0 = std::chrono::steady_clock::time_point{} + 10s;
  TokenBucket bucket(2, 1, t0);  // one message per 30 s
  CHECK(bucket.take(t0));
  CHECK_FALSE(bucket.take(t0));
  CHECK(bucket.retryAfterSeconds(t0) == 30);
  CHECK(bucket.retryAfterSeconds(t0 + 20s) == 10);
  CHECK(bucket.take(t0 + 30s));
}

TEST_CASE("token bucket: rate 0 is unlimited; reconfigure keeps tokens up to the new size") {
  const auto t0 = std::chrono::steady_clock::time_point{} + 10s;
  TokenBucket unlimited(0, 1, t0);
  for (int i = 0; i < 1000; ++i) REQUIRE(unlimited.take(t0));
  CHECK(unlimited.retryAfterSeconds(t0) == 0);

  TokenBucket bucket(60, 10, t0);
  for (int i = 0; i < 5; ++i) REQUIRE(bucket.take(t0));  // 5 left
  bucket.reconfigure(60, 2, t0);                         // clamped to 2
  CHECK(bucket.take(t0));
  CHECK(bucket.take(t0));
  CHECK_FALSE(bucket.take(t0));
  bucket.reconfigure(0, 2, t0);  // now unlimited
  CHECK(bucket.take(t0));
  // A clock reading older than the last one adds nothing.
  TokenBucket b2(60, 1, t0);
  CHECK(b2.take(t0));
  CHECK_FALSE(b2.take(t0 - 5s));
}

TEST_CASE("profile stats sum the refusals") {
  ProfileStats s;
  s.rate_limited = 2;
  s.sender_refused = 3;
  s.recipients_refused = 4;
  s.size_refused = 5;
  s.accepted = 100;
  CHECK(s.refused() == 14);
}
