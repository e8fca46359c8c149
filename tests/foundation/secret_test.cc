// secret_test.cc: SecretBytes and SecretBuffer.
#include "foundation/secret.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <type_traits>

using foundation::SecretBuffer;
using foundation::SecretBytes;

static_assert(!std::is_copy_constructible_v<SecretBytes>, "secrets are never copied implicitly");
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(!std::is_convertible_v<SecretBytes, std::string>);
static_assert(!std::is_convertible_v<SecretBytes, std::string_view>);
// The C-API view cannot flow into a string, a string_view or a log field either.
static_assert(!std::is_convertible_v<SecretBytes::CString, const char*>);
static_assert(!std::is_convertible_v<SecretBytes::CString, std::string_view>);

TEST_CASE("SecretBytes basics") {
  foundation::initSecretMemoryOrDie();
  auto s = SecretBytes::copyOf(std::string_view("hunter2"));
  CHECK(s.size() == 7);
  CHECK(s.equals("hunter2"));
  CHECK_FALSE(s.equals("hunter3"));
  CHECK(std::string(s.cString().pointer) == "hunter2");
  auto c = s.clone();
  CHECK(c.equals(s));
  auto moved = std::move(s);
  CHECK(moved.equals("hunter2"));
  CHECK(s.empty());  // NOLINT: moved-from state is defined: empty
  moved.truncate(4);
  CHECK(moved.equals("hunt"));
  CHECK(std::string(moved.cString().pointer) == "hunt");
  CHECK_FALSE(moved.hasNul());
  CHECK(SecretBytes::copyOf(std::string_view("a\0b", 3)).hasNul());
}

TEST_CASE("SecretBuffer grows and enforces its limit") {
  SecretBuffer buffer(10000);
  std::string chunk(3000, 'x');
  CHECK(buffer.append(chunk.data(), chunk.size()));
  CHECK(buffer.append(chunk.data(), chunk.size()));
  CHECK(buffer.append(chunk.data(), chunk.size()));
  CHECK_FALSE(buffer.append(chunk.data(), chunk.size()));
  CHECK(buffer.overflowed());
  auto bytes = buffer.take();
  CHECK(bytes.size() == 9000);
}

// The kernel's view of the page that holds a secret: VmFlags of its mapping in
// /proc/self/smaps ("lo" = mlock'ed, never swapped; "dd" = left out of core dumps).
static std::string vmFlagsOf(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &start, &end) == 2) {  // a mapping's header
      inside = target >= start && target < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return {};
}

// AddressSanitizer (gcc: __SANITIZE_ADDRESS__, clang: __has_feature) turns mlock()
// into a no-op.
#if defined(__SANITIZE_ADDRESS__)
#define SECRET_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECRET_TEST_ASAN 1
#endif
#endif

TEST_CASE("a secret's pages are locked and excluded from core dumps") {
  foundation::initSecretMemoryOrDie();
  auto s = SecretBytes::copyOf(std::string_view("locked-page-check"));
  const std::string flags = vmFlagsOf(s.cString().pointer);
  INFO("VmFlags: " << flags);
  REQUIRE_FALSE(flags.empty());
#if !defined(SECRET_TEST_ASAN)
  // Under AddressSanitizer the pages cannot show "lo"; the normal build checks it.
  CHECK(flags.find(" lo") != std::string::npos);
#endif
  CHECK(flags.find(" dd") != std::string::npos);
}
