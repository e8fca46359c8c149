// response_parser_fuzz.cc: libFuzzer target for the Vault response parser.
#include <cstdint>
#include <string_view>

#include "vault/response_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  {
    auto body = foundation::SecretBytes::copyOf(input);
    (void)vault::response::parseSecret(body);
  }
  {
    auto body = foundation::SecretBytes::copyOf(input);
    (void)vault::response::parseAuth(body);
  }
  {
    auto body = foundation::SecretBytes::copyOf(input);
    (void)vault::response::parseError(size % 2 ? 400 : 503, body);
  }
  // Every other answer shape, each on a fresh copy (parsing is in place).
  auto each = [&](auto parse) {
    auto body = foundation::SecretBytes::copyOf(input);
    (void)parse(body);
  };
  each([](foundation::SecretBytes& b) { return vault::response::parseTokenLookup(b); });
  each([](foundation::SecretBytes& b) { return vault::response::parseLeaseRenewal(b); });
  each([](foundation::SecretBytes& b) { return vault::response::parseLeaseLookup(b); });
  each([](foundation::SecretBytes& b) { return vault::response::parseList(b); });
  each([](foundation::SecretBytes& b) { return vault::response::parseKv2(b); });
  each([](foundation::SecretBytes& b) { return vault::response::parseHealth(200, b); });
  each([](foundation::SecretBytes& b) { return vault::response::parseLeader(b); });
  return 0;
}
