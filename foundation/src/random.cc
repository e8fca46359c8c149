// random.cc: see random.h.
//
// SECURITY: libsodium's randombytes_buf (getrandom(2) underneath).
// ERRORS: sodium_init() failing is fatal for the whole program (no randomness).
#include "foundation/random.h"

#include <sodium.h>

#include <cstdlib>

namespace foundation {

std::string randomHex(std::size_t bytes) {
  if (sodium_init() < 0) std::abort();  // no CSPRNG: nothing here may continue
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  hex.pop_back();
  return hex;
}

}  // namespace foundation
