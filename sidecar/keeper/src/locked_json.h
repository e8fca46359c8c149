// locked_json.h: RapidJSON types whose DOM and parse stack live in locked memory.
//
// SECURITY: a token endpoint's answer carries an access token; parsed in place
// (kParseInsituFlag) its strings stay inside the caller's SecretBytes, and every
// block RapidJSON allocates (the DOM holds pointers and numbers next to them) comes
// from sodium_malloc: guard pages, mlock, zeroed on free. The same design as
// vault-client's response parser, whose allocator is private to it.
// ERRORS: allocation failure aborts, as SecretBytes does: no fallback to plain memory.
#pragma once

#include <rapidjson/document.h>
#include <sodium.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace sidecar::keeper::locked_json {

class SodiumAllocator {
 public:
  [[maybe_unused]] static const bool kNeedFree = true;
  void* Malloc(size_t size) {
    if (size == 0) return nullptr;
    // sodium_malloc puts the block right before a guard page: round the size up so
    // the address stays aligned for the integers and pointers RapidJSON stores.
    size = (size + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) *
           alignof(std::max_align_t);
    void* p = sodium_malloc(size);
    if (p == nullptr) std::abort();
    return p;
  }
  void* Realloc(void* original, size_t original_size, size_t new_size) {
    if (new_size == 0) {
      Free(original);
      return nullptr;
    }
    void* p = Malloc(new_size);
    if (original != nullptr) {
      std::memcpy(p, original, original_size < new_size ? original_size : new_size);
      Free(original);
    }
    return p;
  }
  static void Free(void* ptr) {
    if (ptr != nullptr) sodium_free(ptr);
  }
};

using Allocator = rapidjson::MemoryPoolAllocator<SodiumAllocator>;
using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, Allocator, SodiumAllocator>;
using Value = rapidjson::GenericValue<rapidjson::UTF8<>, Allocator>;

// Without kParseStopWhenDoneFlag: bytes after the value make the answer malformed.
inline constexpr unsigned kParseFlags = rapidjson::kParseInsituFlag |
                                        rapidjson::kParseIterativeFlag |
                                        rapidjson::kParseValidateEncodingFlag;

}  // namespace sidecar::keeper::locked_json
