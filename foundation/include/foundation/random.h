// random.h: unguessable identifiers (message ids, MIME boundaries, asynchronous
// message ids, sendmail's Message-ID) from the kernel's CSPRNG via libsodium.
//
// SECURITY: ids that a client can see must not be guessable (an async message id is
// also what a peer of the same profile asks for), so they come from randombytes_buf,
// never from a time or a counter. They are not secrets.
// ERRORS: none: libsodium's generator does not fail once sodium_init() has run
// (initSecretMemoryOrDie() does that at start; randomHex calls it too, idempotently).
#pragma once

#include <cstddef>
#include <string>

namespace foundation {

// `bytes` random bytes as 2 * bytes lowercase hex digits.
std::string randomHex(std::size_t bytes);

}  // namespace foundation
