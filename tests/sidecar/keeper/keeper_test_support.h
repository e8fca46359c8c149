// keeper_test_support.h: what the keeper's lifecycle tests (credential_keeper_test.cc,
// credential_keeper_handoff_test.cc) both need around a scripted Vault: the AppRole
// files on disk, the settings that point at them, a Vault client on the test's fake
// clock that tries each request once, an answer from the scripted Vault, a secret's text.
//
// SECURITY: test-only; the "secrets" are fixed test strings in /tmp files removed at the
// end of each test.
// ERRORS: a file that cannot be written is a REQUIRE failure.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "foundation/secret.h"
#include "sidecar/base/config.h"
#include "vault-client/fake_transport.h"
#include "vault/client.h"

namespace sidecar::keeper_test {

// A file holding `content` (the role_id or secret_id the keeper reads), removed after.
struct TempFile {
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/keeper-test-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    ::close(fd);
    path = name;
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { ::unlink(path.c_str()); }
  std::string path;
};

// The AppRole files of role "role-1" / secret_id "sid-1" and settings that name them,
// one credential path, a 30 s rotation grace.
struct AppRoleFiles {
  AppRoleFiles() : role_id("role-1\n"), secret_id("sid-1\n") {
    foundation::initSecretMemoryOrDie();
    settings.address = "http://127.0.0.1:1";  // never dialled: the transport is scripted
    settings.role_id_file = role_id.path;
    settings.secret_id_file = secret_id.path;
    settings.credential_path = "database/creds/app";
    settings.rotation_grace = std::chrono::seconds(30);
  }
  TempFile role_id, secret_id;
  VaultSettings settings;
};

// A client over `transport` on `clock`; one attempt per request, so the scripted
// Vault's answer is what the keeper sees.
inline std::unique_ptr<vault::Client> scriptedClient(
    std::unique_ptr<vault::HttpTransport> transport, fakes::FakeClock& clock) {
  vault::ClientOptions options;
  options.clock = &clock;
  options.max_attempts = 1;
  return std::make_unique<vault::Client>(std::move(transport), options);
}

inline vault::HttpResponse vaultAnswer(long status, const std::string& body) {
  return {status, foundation::SecretBytes::copyOf(std::string_view(body))};
}

inline std::string revealed(const foundation::SecretBytes& s) {
  return s.reveal([](std::string_view v) { return std::string(v); });
}

}  // namespace sidecar::keeper_test
