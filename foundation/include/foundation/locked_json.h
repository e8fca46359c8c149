// locked_json.h: RapidJSON types whose DOM, parse stack and output buffers live in
// locked memory: the one definition for every parser of JSON that may carry a secret
// (vault-client's response parser, the keeper's token endpoint answers).
//
// SECURITY: parsed in place (kParseInsituFlag), a document's strings stay inside the
// caller's SecretBytes, and every block RapidJSON allocates (the DOM holds pointers and
// numbers next to them) comes from sodium_malloc: guard pages, mlock, zeroed on free.
// ERRORS: allocation failure aborts, as SecretBytes does: no fallback to plain memory
// (fuzz builds excepted: see foundation/secret.h).
// Header-only; the CMake target foundation_locked_json adds RapidJSON, so linking the
// foundation alone (the plugin) does not pull it in.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "foundation/secret.h"

namespace foundation::locked_json {

// RapidJSON's base allocator concept on sodium_malloc.
class SodiumAllocator {
 public:
  [[maybe_unused]] static const bool kNeedFree = true;
  void* Malloc(size_t size) {
    if (size == 0) return nullptr;
    // sodium_malloc places the block right before a guard page, so its address is only
    // aligned if the size is a multiple of the alignment: round up (RapidJSON stores
    // integers and pointers in these blocks).
    size = (size + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) *
           alignof(std::max_align_t);
    void* p = allocateLockedMemory(size);
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
    if (ptr != nullptr) freeLockedMemory(ptr);
  }
};

using Allocator = rapidjson::MemoryPoolAllocator<SodiumAllocator>;
using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, Allocator, SodiumAllocator>;
using Value = rapidjson::GenericValue<rapidjson::UTF8<>, Allocator>;
using Buffer = rapidjson::GenericStringBuffer<rapidjson::UTF8<>, SodiumAllocator>;

// True when no value in `v` is nested deeper than `max_depth` (`v` itself is at
// `depth`). RapidJSON's iterative parser has no recursion but no depth limit either;
// the code that walks the DOM afterwards may recurse.
inline bool withinDepth(const Value& v, unsigned max_depth, unsigned depth = 0) {
  if (depth > max_depth) return false;
  if (v.IsObject()) {
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      if (!withinDepth(it->value, max_depth, depth + 1)) return false;
    }
  } else if (v.IsArray()) {
    for (const auto& item : v.GetArray()) {
      if (!withinDepth(item, max_depth, depth + 1)) return false;
    }
  }
  return true;
}

}  // namespace foundation::locked_json
