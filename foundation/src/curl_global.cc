// curl_global.cc: zeroing allocation functions for libcurl (see curl_global.h).
//
// SECURITY: each block carries a 16-byte header holding its usable size, so free and
// realloc can wipe exactly what libcurl wrote. sodium_memzero cannot be optimised away.
// ERRORS: allocation failures are reported to libcurl as NULL, as malloc would.
#include "foundation/curl_global.h"

#include <curl/curl.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "foundation/secret.h"

namespace foundation {
namespace {

// 16 bytes keep the user pointer aligned for any type (max_align_t on x86-64).
constexpr std::size_t kHeader = 16;

void* zeroingMalloc(std::size_t size) {
  auto* block = static_cast<unsigned char*>(std::malloc(size + kHeader));
  if (block == nullptr) return nullptr;
  std::memcpy(block, &size, sizeof size);
  return block + kHeader;
}

std::size_t blockSize(void* ptr) {
  std::size_t size = 0;
  std::memcpy(&size, static_cast<unsigned char*>(ptr) - kHeader, sizeof size);
  return size;
}

void zeroingFree(void* ptr) {
  if (ptr == nullptr) return;
  sodium_memzero(ptr, blockSize(ptr));
  std::free(static_cast<unsigned char*>(ptr) - kHeader);
}

void* zeroingRealloc(void* ptr, std::size_t size) {
  if (ptr == nullptr) return zeroingMalloc(size);
  // Always move: realloc in place could leave the old tail unwiped when shrinking and
  // the allocator may copy and free the old block itself when growing.
  void* fresh = zeroingMalloc(size);
  if (fresh == nullptr) return nullptr;
  const std::size_t old_size = blockSize(ptr);
  std::memcpy(fresh, ptr, old_size < size ? old_size : size);
  zeroingFree(ptr);
  return fresh;
}

char* zeroingStrdup(const char* str) {
  const std::size_t len = std::strlen(str) + 1;
  auto* copy = static_cast<char*>(zeroingMalloc(len));
  if (copy != nullptr) std::memcpy(copy, str, len);
  return copy;
}

void* zeroingCalloc(std::size_t count, std::size_t size) {
  if (size != 0 && count > static_cast<std::size_t>(-1) / size) return nullptr;
  void* p = zeroingMalloc(count * size);
  if (p != nullptr) std::memset(p, 0, count * size);
  return p;
}

}  // namespace

void initCurlOrDie() {
  static std::once_flag once;
  std::call_once(once, [] {
    initSecretMemoryOrDie();
    if (curl_global_init_mem(CURL_GLOBAL_ALL, zeroingMalloc, zeroingFree, zeroingRealloc,
                             zeroingStrdup, zeroingCalloc) != CURLE_OK) {
      std::fprintf(stderr, "fatal: curl_global_init_mem failed\n");
      std::abort();
    }
  });
}

}  // namespace foundation
