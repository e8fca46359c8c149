// host.cc: the production clock and randomness (see host.h).
//
// SECURITY: randomness is libsodium's randombytes_buf (getrandom(2)); it cannot fail
// once sodium_init succeeded (foundation::initSecretMemoryOrDie, called by main).
// ERRORS: none.
#include "plugin/host.h"

#include <openssl/crypto.h>
#include <sodium.h>

#include <chrono>

namespace smtpplugin {

void wipeString(std::string& s) noexcept {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

std::int64_t SystemClock::nowUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SodiumRandom::fill(std::span<unsigned char> out) {
  if (!out.empty()) randombytes_buf(out.data(), out.size());
}

}  // namespace smtpplugin
