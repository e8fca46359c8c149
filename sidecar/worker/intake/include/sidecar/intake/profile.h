// profile.h: caller authorization: which profile a connecting peer gets, which senders
// it may use, and how fast it may send.
//
// SECURITY: the peer's identity comes from the kernel (SO_PEERCRED at accept), never
// from the request. Everything here is pure (no I/O, time passed in), so the rules are
// tested exhaustively. Sender addresses compared here come from submit_request.h and
// message_headers.h, which bound and check them first.
// ERRORS: checkSenderPattern returns a Permanent error naming what is wrong; the
// matchers return plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "foundation/result.h"
#include "sidecar/base/config.h"

namespace sidecar::profile {

// SO_PEERCRED of a connection.
struct Peer {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int32_t pid = 0;
};

// The profile for `peer`, or nullptr. A profile listing the peer's uid wins over one
// listing its gid (a user is more specific than a group); among equals, the first one.
// The implicit "default" profile matches everyone.
const Profile* match(const std::vector<Profile>& profiles, const Peer& peer);

// A token bucket: `burst` tokens, refilled at rate_per_minute / 60 per second. The
// caller passes the time, so tests run it on a fake clock.
class TokenBucket {
 public:
  using Time = std::chrono::steady_clock::time_point;
  TokenBucket(std::uint32_t rate_per_minute, std::uint32_t burst, Time now);
  // Takes one token. False (nothing taken) when the bucket is empty.
  bool take(Time now);
  // Whole seconds until take() would succeed (at least 1 when it would not now).
  std::int64_t retryAfterSeconds(Time now);
  // SIGHUP: new rate and size; the tokens held are kept, up to the new size.
  void reconfigure(std::uint32_t rate_per_minute, std::uint32_t burst, Time now);
  bool unlimited() const noexcept { return rate_per_minute_ == 0; }

 private:
  void refill(Time now);
  std::uint32_t rate_per_minute_;
  double capacity_;
  double tokens_;
  Time last_;
};

// Rejections per profile, kept for the life of the worker (exported as metrics).
struct ProfileStats {
  std::uint64_t accepted = 0;            // handed to the dispatcher
  std::uint64_t rate_limited = 0;        // 429 rate_limited
  std::uint64_t sender_refused = 0;      // 403 sender_not_allowed
  std::uint64_t recipients_refused = 0;  // 422 too_many_recipients
  std::uint64_t size_refused = 0;        // 413
  std::uint64_t refused() const noexcept {
    return rate_limited + sender_refused + recipients_refused + size_refused;
  }
};

}  // namespace sidecar::profile
