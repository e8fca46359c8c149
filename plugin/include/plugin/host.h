// host.h: what the engine needs from its environment, as interfaces: the mount's
// storage and system view (served by Vault over the broker in production, fakes in
// tests), a clock and a source of randomness.
//
// SECURITY: storage values may hold the database password (config); Vault encrypts its
// storage, and the engine never logs a value. Randomness must be cryptographic in
// production (libsodium randombytes_buf).
// ERRORS: storage failures are Temporary (Vault unreachable or sealed).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "foundation/result.h"

namespace smtpplugin {

class Storage {
 public:
  virtual ~Storage() = default;
  // nullopt: no such key.
  virtual foundation::Result<std::optional<std::string>> get(std::string_view key) = 0;
  virtual foundation::Status put(std::string_view key, std::string_view value) = 0;
  virtual foundation::Status remove(std::string_view key) = 0;
  // Keys directly under `prefix` (sub-folders end in '/').
  virtual foundation::Result<std::vector<std::string>> list(std::string_view prefix) = 0;
};

class SystemView {
 public:
  virtual ~SystemView() = default;
  virtual foundation::Result<std::int64_t> defaultLeaseTtlNs() = 0;
  virtual foundation::Result<std::int64_t> maxLeaseTtlNs() = 0;
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t nowUnixSeconds() = 0;
};

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void fill(std::span<unsigned char> out) = 0;
};

// Zeroes a string that held a secret (OPENSSL_cleanse, not optimised away), then clears it.
void wipeString(std::string& s) noexcept;

// Production implementations.
class SystemClock final : public Clock {
 public:
  std::int64_t nowUnixSeconds() override;
};
class SodiumRandom final : public RandomSource {
 public:
  void fill(std::span<unsigned char> out) override;
};

}  // namespace smtpplugin
