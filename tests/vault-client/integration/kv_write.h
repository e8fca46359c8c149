// kv_write.h: a write to a KV v2 mount made moments before, for the integration tests.
//
// SECURITY: test-only; the bodies are test values, not secrets.
// ERRORS: returns the last write's Result.
//
// A new KV v2 mount upgrades its storage in the background and answers HTTP 400
// "Upgrading from non-versioned to versioned data" until that is done (seen once in CI on a
// fresh machine: the HA cluster's first write). A user's client would see the same
// and is right to treat it as an error; these tests only need the mount ready, so they
// write again while it says so, for at most 10 s.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <thread>

#include "vault/client.h"

inline foundation::Result<vault::LeasedSecret> writeOnceKvIsUpgraded(vault::Client& client,
                                                                     std::string_view path,
                                                                     std::string_view json) {
  auto out = client.write(path, foundation::SecretBytes::copyOf(json));
  for (int attempt = 0;
       attempt < 50 && !out.ok() &&
       out.errorMessage().find("Upgrading from non-versioned") != std::string::npos;
       ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    out = client.write(path, foundation::SecretBytes::copyOf(json));
  }
  return out;
}
