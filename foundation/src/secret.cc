// secret.cc: SecretBytes and SecretBuffer on libsodium's guarded heap (see secret.h).
//
// SECURITY: sodium_malloc gives each allocation guard pages, mlock()s it and marks it
// MADV_DONTDUMP; sodium_free zeroes it before unmapping. Nothing here logs or copies
// bytes outside such allocations.
// ERRORS: allocation failure aborts (a secret must not fall back to ordinary memory;
// only fuzz builds, whose daemons refuse to run, keep secrets on the heap).
#include "foundation/secret.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace foundation {
namespace {

[[noreturn]] void dieOutOfSecretMemory(std::size_t size) {
  std::fprintf(stderr,
               "fatal: cannot allocate %zu bytes of locked memory for a secret "
               "(check RLIMIT_MEMLOCK)\n",
               size);
  std::abort();
}

// Zero bytes kept after the value: one NUL for cString(), and three more because
// RapidJSON's in-place parsing (Vault answers, token endpoint answers, plugin requests)
// validates a UTF-8 sequence by reading all of its continuation bytes before it looks
// at them: a body ending in a 4-byte lead (0xF2) read up to three bytes past the NUL,
// into sodium_malloc's guard page, and killed the keeper (found by the fuzz campaign,
// scripts/fuzz-campaign; the inputs are in the vault_response and oauth_token_response
// corpora). NUL is never a continuation byte, so the sequence is refused inside them.
constexpr std::size_t kTrailingZeroBytes = 4;

char* allocateSecret(std::size_t size) {
  initSecretMemoryOrDie();
  void* p = allocateLockedMemory(size + kTrailingZeroBytes);
  if (p == nullptr) dieOutOfSecretMemory(size);
  std::memset(p, 0, size + kTrailingZeroBytes);
  return static_cast<char*>(p);
}

}  // namespace

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
// Fuzz builds only (cmake/Sanitizers.cmake): the heap instead of sodium_malloc. Each
// sodium_malloc maps, guards and locks pages (~10 system calls), which held the Vault
// answer harness to ~1,000 inputs a second; ASan's redzones catch an over-read to the
// byte where a guard page catches it only at a page edge. Locking, zeroing and dump
// exclusion are tested by the unit tests of the normal builds, which never take this
// branch.
void* allocateLockedMemory(std::size_t bytes) {
  return std::malloc(bytes);
}
void freeLockedMemory(void* p) {
  std::free(p);
}
#else
void* allocateLockedMemory(std::size_t bytes) {
  return sodium_malloc(bytes);
}
void freeLockedMemory(void* p) {
  sodium_free(p);  // zeroes before unmapping
}
#endif

void initSecretMemoryOrDie() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      std::fprintf(stderr, "fatal: libsodium failed to initialise\n");
      std::abort();
    }
  });
}

SecretBytes::SecretBytes(std::size_t size) : data_(allocateSecret(size)), size_(size) {}

SecretBytes SecretBytes::copyOf(std::span<const char> bytes) {
  SecretBytes s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data_, bytes.data(), bytes.size());
  return s;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

SecretBytes::~SecretBytes() {
  release();
}

void SecretBytes::release() noexcept {
  if (data_ != nullptr) freeLockedMemory(data_);
  data_ = nullptr;
  size_ = 0;
}

SecretBytes SecretBytes::clone() const {
  return copyOf(std::span<const char>(data_ != nullptr ? data_ : "", size_));
}

bool SecretBytes::hasNul() const noexcept {
  return data_ != nullptr && std::memchr(data_, 0, size_) != nullptr;
}

bool SecretBytes::equals(std::string_view other) const noexcept {
  if (other.size() != size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(data_, other.data(), size_) == 0;
}

bool SecretBytes::equals(const SecretBytes& other) const noexcept {
  return equals(std::string_view(other.cString().pointer, other.size()));
}

void SecretBytes::truncate(std::size_t new_size) noexcept {
  if (new_size >= size_) return;
  sodium_memzero(data_ + new_size, size_ - new_size);
  size_ = new_size;
}

bool SecretBuffer::append(const char* bytes, std::size_t len) {
  if (overflowed_ || len > max_size_ - size_) {
    overflowed_ = true;
    return false;
  }
  if (size_ + len > block_.size()) {
    // Grow geometrically within the cap; the old block is zeroed when freed.
    std::size_t capacity = block_.size() == 0 ? 4096 : block_.size() * 2;
    while (capacity < size_ + len) capacity *= 2;
    if (capacity > max_size_) capacity = max_size_;
    SecretBytes bigger(capacity);
    if (size_ > 0) std::memcpy(bigger.mutableData(), block_.mutableData(), size_);
    block_ = std::move(bigger);
  }
  std::memcpy(block_.mutableData() + size_, bytes, len);
  size_ += len;
  return true;
}

SecretBytes SecretBuffer::take() {
  block_.truncate(size_);
  SecretBytes out = std::move(block_);
  size_ = 0;
  return out;
}

}  // namespace foundation
