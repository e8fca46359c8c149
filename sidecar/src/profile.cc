// profile.cc: peer -> profile, sender patterns, token bucket (see profile.h).
//
// SECURITY: pure functions over kernel-supplied ids and already-checked addresses.
// ERRORS: Permanent errors for malformed sender patterns (operator input).
#include "sidecar/profile.h"

#include <algorithm>
#include <cmath>

namespace sidecar::profile {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool hasOnly(std::string_view s, std::string_view allowed_extra) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           allowed_extra.find(c) != std::string_view::npos;
  });
}

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

vault::Status checkSenderPattern(std::string_view pattern) {
  const auto at = pattern.find('@');
  if (at == std::string_view::npos || pattern.find('@', at + 1) != std::string_view::npos) {
    return vault::Error::permanent("\"" + std::string(pattern) +
                                   "\": expected \"user@domain\" or \"*@domain\"");
  }
  const auto local = pattern.substr(0, at);
  const auto domain = pattern.substr(at + 1);
  const bool local_ok = local == "*" || (!local.empty() && local.size() <= 64 &&
                                         hasOnly(local, "!#$%&'+-/=?^_`{|}~."));
  const bool domain_ok = !domain.empty() && domain.size() <= 253 && hasOnly(domain, ".-") &&
                         domain.front() != '.' && domain.back() != '.';
  if (!local_ok || !domain_ok) {
    return vault::Error::permanent("\"" + std::string(pattern) +
                                   "\": expected \"user@domain\" or \"*@domain\" (the only "
                                   "wildcard is a whole local part)");
  }
  return {};
}

bool senderAllowed(const std::vector<std::string>& patterns, std::string_view address) {
  if (patterns.empty()) return true;
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return false;  // includes the null sender
  for (const auto& pattern : patterns) {
    const std::string_view p(pattern);
    if (p.rfind("*@", 0) == 0) {
      if (at > 0 && iequals(address.substr(at + 1), p.substr(2))) return true;
    } else if (iequals(address, p)) {
      return true;
    }
  }
  return false;
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
