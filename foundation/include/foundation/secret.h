// secret.h: SecretBytes, the one type that holds secret bytes (tokens, secret_ids,
// passwords, wrapped tokens, response bodies that carry them).
//
// SECURITY: storage comes from sodium_malloc: guard pages, mlock'ed (never swapped),
// excluded from core dumps (MADV_DONTDUMP), zeroed by sodium_free. The type is
// move-only, has no operator<<, no implicit conversion to std::string and no str():
// the bytes are reachable only inside reveal() or by handing the NUL-terminated
// cString() to a C API that copies into memory we also zero (libcurl, see
// zeroing_allocator.h). Every copy is explicit: clone().
// ERRORS: allocation failure (out of locked memory, RLIMIT_MEMLOCK) is fatal: a
// secret that cannot be stored safely must not be stored at all.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace foundation {

// Must run once before any SecretBytes is created (calls sodium_init). Idempotent.
void initSecretMemoryOrDie();

// The raw allocation under SecretBytes, for the other holders of secret bytes
// (locked_json.h's RapidJSON allocator): sodium_malloc, and sodium_free, which zeroes.
// nullptr when out of locked memory. Fuzz builds (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
// take the heap instead; secret.cc says why.
void* allocateLockedMemory(std::size_t bytes);
void freeLockedMemory(void* p);

class SecretBytes {
 public:
  SecretBytes() noexcept = default;
  // Allocates `size` zeroed bytes, followed by hidden zero bytes: a NUL so cString() is
  // always valid, and padding for in-place JSON parsing (secret.cc says why).
  explicit SecretBytes(std::size_t size);
  // Copies `bytes` into locked memory. The caller is responsible for wiping its source.
  static SecretBytes copyOf(std::span<const char> bytes);
  static SecretBytes copyOf(std::string_view bytes) {
    return copyOf(std::span<const char>(bytes.data(), bytes.size()));
  }

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  SecretBytes clone() const;  // an explicit copy, also in locked memory

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // Scoped access. The view must not outlive the call or be copied into ordinary memory.
  template <typename Fn>
  decltype(auto) reveal(Fn&& fn) const {
    return fn(std::string_view(data_ ? data_ : "", size_));
  }
  // Mutable access, for filling a buffer in place (e.g. a response being received).
  char* mutableData() noexcept { return data_; }

  // The bytes as a NUL-terminated string for a C API that copies them
  // (curl_easy_setopt, curl_slist_append); meaningful only if !hasNul(). A wrapper,
  // not a const char*, so that it cannot reach a log or format call by accident.
  struct CString {
    const char* pointer;
  };
  CString cString() const noexcept { return {data_ ? data_ : ""}; }
  bool hasNul() const noexcept;

  // Constant-time comparison.
  bool equals(std::string_view other) const noexcept;
  bool equals(const SecretBytes& other) const noexcept;

  // Shrinks the logical size (wiping the tail); never grows.
  void truncate(std::size_t new_size) noexcept;

 private:
  void release() noexcept;
  char* data_ = nullptr;
  std::size_t size_ = 0;
};

// A growable buffer in locked memory, for receiving responses that may carry secrets.
// Growth copies into a new locked block and frees (zeroes) the old one.
class SecretBuffer {
 public:
  explicit SecretBuffer(std::size_t max_size) : max_size_(max_size) {}
  // Returns false (and appends nothing) if the result would exceed max_size.
  bool append(const char* bytes, std::size_t len);
  std::size_t size() const noexcept { return size_; }
  bool overflowed() const noexcept { return overflowed_; }
  // Hands the bytes over as a SecretBytes of exactly size() bytes (+ hidden NUL).
  SecretBytes take();

 private:
  SecretBytes block_;
  std::size_t size_ = 0;
  std::size_t max_size_;
  bool overflowed_ = false;
};

}  // namespace foundation
