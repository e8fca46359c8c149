// log_limiter_test.cc: per-key line budget with a count of what was left out.
#include "sidecar/base/log_limiter.h"

#include <doctest/doctest.h>

using sidecar::log::LogLimiter;
using namespace std::chrono_literals;

TEST_CASE("at most N lines per interval per key; the next line carries the count") {
  LogLimiter limiter(2, 10s);
  const auto t0 = LogLimiter::Clock::time_point{} + 1000s;
  CHECK(limiter.admit("peer:1", t0) == 0);
  CHECK(limiter.admit("peer:1", t0 + 1s) == 0);
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(limiter.admit("peer:1", t0 + 2s).has_value());
  CHECK(limiter.admit("peer:2", t0 + 2s) == 0);  // another key has its own budget
  CHECK(limiter.admit("peer:1", t0 + 10s) == 1000u);
  CHECK(limiter.admit("peer:1", t0 + 11s) == 0);
  CHECK_FALSE(limiter.admit("peer:1", t0 + 12s).has_value());
}

TEST_CASE("keys are bounded: past max_keys new keys share one budget") {
  LogLimiter limiter(1, 10s, 4);
  const auto t0 = LogLimiter::Clock::time_point{} + 1000s;
  int written = 0;
  for (int i = 0; i < 100; ++i) {
    if (limiter.admit("k" + std::to_string(i), t0)) ++written;
  }
  CHECK(written == 5);  // four own keys and the shared overflow slot
  // Once the windows are over, room is made again.
  CHECK(limiter.admit("fresh", t0 + 20s) == 0);
}
