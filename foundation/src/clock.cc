// clock.cc: the real clock, libsodium-backed jitter, and the backoff sequence.
//
// SECURITY: none (see clock.h).
// ERRORS: none.
#include "foundation/clock.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <thread>

namespace foundation {
namespace {

class SystemClock final : public Clock {
 public:
  SteadyTime now() override { return std::chrono::steady_clock::now(); }
  void sleepFor(std::chrono::milliseconds duration) override {
    std::this_thread::sleep_for(duration);
  }
};

}  // namespace

Clock& systemClock() {
  static SystemClock clock;
  return clock;
}

UniformSource systemUniform() {
  return [] {
    // 32 random bits scaled to [0, 1): enough resolution for jitter.
    return static_cast<double>(randombytes_random()) / 4294967296.0;
  };
}

std::chrono::milliseconds Backoff::next() {
  const double base = static_cast<double>(policy_.initial.count()) *
                      std::pow(policy_.multiplier, static_cast<double>(std::min(attempt_, 30u)));
  const double capped = std::min(base, static_cast<double>(policy_.max.count()));
  const double factor = 1.0 - policy_.jitter * std::clamp(uniform_(), 0.0, 1.0);
  ++attempt_;
  return std::chrono::milliseconds(static_cast<long long>(capped * factor));
}

}  // namespace foundation
