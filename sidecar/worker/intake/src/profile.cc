// profile.cc: peer -> profile, token bucket (see profile.h).
//
// SECURITY: pure functions over kernel-supplied ids and already-checked addresses.
// ERRORS: Permanent errors for malformed sender patterns (operator input).
#include "sidecar/intake/profile.h"

#include <algorithm>
#include <cmath>

namespace sidecar::profile {
namespace {

bool contains(const std::vector<std::uint32_t>& ids, std::uint32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

const Profile* match(const std::vector<Profile>& profiles, const Peer& peer) {
  for (const auto& p : profiles) {
    if (p.matches_everyone || contains(p.uids, peer.uid)) return &p;
  }
  for (const auto& p : profiles) {
    if (contains(p.gids, peer.gid)) return &p;
  }
  return nullptr;
}

TokenBucket::TokenBucket(std::uint32_t rate_per_minute, std::uint32_t burst, Time now)
    : rate_per_minute_(rate_per_minute),
      capacity_(std::max<double>(burst, 1)),
      tokens_(capacity_),
      last_(now) {}

void TokenBucket::refill(Time now) {
  if (now <= last_) return;  // the clock is monotonic; a caller's older time adds nothing
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(capacity_, tokens_ + elapsed * rate_per_minute_ / 60.0);
  last_ = now;
}

bool TokenBucket::take(Time now) {
  if (unlimited()) return true;
  refill(now);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

std::int64_t TokenBucket::retryAfterSeconds(Time now) {
  if (unlimited()) return 0;
  refill(now);
  if (tokens_ >= 1.0) return 0;
  const double seconds = (1.0 - tokens_) * 60.0 / rate_per_minute_;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(seconds - 1e-9)));
}

void TokenBucket::reconfigure(std::uint32_t rate_per_minute, std::uint32_t burst, Time now) {
  refill(now);
  rate_per_minute_ = rate_per_minute;
  capacity_ = std::max<double>(burst, 1);
  tokens_ = std::min(tokens_, capacity_);
  last_ = std::max(last_, now);
}

}  // namespace sidecar::profile
