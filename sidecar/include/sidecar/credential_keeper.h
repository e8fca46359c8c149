// credential_keeper.h: logs in to Vault, leases the SMTP credential, revokes on exit.
//
// SECURITY: the only holder of the Vault token (inside vault::Client) and of the
// leased SMTP credential. role_id and secret_id are read from files straight into
// locked memory; they are never taken from argv. A sender gets a copy of one
// credential for one send (withCredential encodes it for the worker) and drops it after.
// ERRORS: Result values; login errors are Permanent for refused credentials and
// Temporary for an unreachable Vault.
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "sidecar/config.h"
#include "sidecar/smtp_sender.h"
#include "vault/client.h"

namespace sidecar {

// Reads a small secret file (role_id, secret_id) into locked memory, without a
// trailing newline. Refuses empty files, files over 4 KiB and symlinks.
vault::Result<vault::SecretBytes> readSecretFile(const std::string& path, const char* what);

class CredentialKeeper {
 public:
  CredentialKeeper(VaultSettings settings, vault::Client& client);

  // Reads role_id and secret_id, logs in with AppRole and leases the credential.
  vault::Status start();

  // Calls fn(const relay::SmtpCredential&) with the current credential under the lock,
  // so it can be encoded without another copy. False if there is none.
  template <typename Fn>
  bool withCredential(Fn&& fn) const {
    std::lock_guard lock(mutex_);
    if (!credential_) return false;
    fn(*credential_);
    return true;
  }
  bool ready() const;
  std::string leaseId() const;

  // Leases a new credential in place of the current one, whose lease is then revoked
  // (best effort: the SMTP server already refused it).
  vault::Status replace();

  // Revokes the lease and then the token. Idempotent.
  vault::Status revokeAll();

 private:
  vault::Status lease();

  VaultSettings settings_;
  vault::Client& client_;
  mutable std::mutex mutex_;
  std::optional<relay::SmtpCredential> credential_;
};

}  // namespace sidecar
