// clock.h: time and randomness as seams, so lifetimes and backoff can be tested.
//
// SECURITY: none; the randomness here only spreads retries and renewals (jitter) so
// many sidecars do not hit Vault in step. It is not used for anything secret.
// ERRORS: none.
#pragma once

#include <chrono>
#include <functional>

namespace foundation {

using SteadyTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() = 0;
  // Blocks (a real clock) or advances time (a test clock).
  virtual void sleepFor(std::chrono::milliseconds duration) = 0;
};

// The process-wide steady clock.
Clock& systemClock();

// A uniform draw in [0, 1): libsodium's generator by default, a fixed sequence in tests.
using UniformSource = std::function<double()>;
UniformSource systemUniform();

struct BackoffPolicy {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30000};
  double multiplier = 2.0;
  double jitter = 0.2;  // each delay is scaled by a factor drawn from [1 - jitter, 1]
};

// Jittered exponential backoff: initial, initial*multiplier, ... capped at max.
class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy, UniformSource uniform = systemUniform())
      : policy_(policy), uniform_(std::move(uniform)) {}
  std::chrono::milliseconds next();
  void reset() noexcept { attempt_ = 0; }
  unsigned attempts() const noexcept { return attempt_; }

 private:
  BackoffPolicy policy_;
  UniformSource uniform_;
  unsigned attempt_ = 0;
};

}  // namespace foundation
