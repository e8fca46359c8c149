// credential_keeper.cc: AppRole login, credential lease, revocation (see the header).
//
// SECURITY: secret files are opened with O_NOFOLLOW and read with read(2) into
// SecretBytes, so no stdio or std::string buffer ever holds their bytes.
// ERRORS: Result values with context; never a secret in a message.
#include "sidecar/credential_keeper.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sidecar/log.h"

namespace sidecar {

using vault::Error;
using vault::Result;
using vault::SecretBytes;
using vault::Status;

namespace {
constexpr std::size_t kMaxSecretFile = 4096;  // role_id/secret_id are UUIDs

bool isSpace(char c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; }
}  // namespace

Result<SecretBytes> readSecretFile(const std::string& path, const char* what) {
  const std::string label = std::string(what) + " file " + path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Error::permanent("cannot open " + label + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error::permanent(label + " is not a regular file");
  }
  if (st.st_size <= 0 || static_cast<std::size_t>(st.st_size) > kMaxSecretFile) {
    ::close(fd);
    return Error::permanent(label + " is empty or larger than 4 KiB");
  }
  SecretBytes bytes(static_cast<std::size_t>(st.st_size));
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.mutableData() + filled, bytes.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    filled += static_cast<std::size_t>(n);
  }
  ::close(fd);
  std::size_t end = filled;
  while (end > 0 && isSpace(bytes.mutableData()[end - 1])) --end;
  bytes.truncate(end);
  if (bytes.empty()) return Error::permanent(label + " holds no value");
  return bytes;
}

CredentialKeeper::CredentialKeeper(VaultSettings settings, vault::Client& client)
    : settings_(std::move(settings)), client_(client) {}

Status CredentialKeeper::start() {
  auto role_id = readSecretFile(settings_.role_id_file, "role_id");
  if (!role_id) return std::move(role_id).error();
  auto secret_id = readSecretFile(settings_.secret_id_file, "secret_id");
  if (!secret_id) return std::move(secret_id).error();

  auto auth = client_.loginAppRole(*role_id, *secret_id, settings_.approle_mount);
  if (!auth) return auth.error().context("vault login (AppRole, mount " +
                                         settings_.approle_mount + ")");
  log::info("vault_login", {{"accessor", auth->accessor},
                            {"token_ttl_seconds", static_cast<std::int64_t>(
                                                      auth->lease_duration.count())},
                            {"renewable", auth->renewable}});
  return lease();
}

Status CredentialKeeper::lease() {
  auto secret = client_.read(settings_.credential_path);
  if (!secret) return secret.error().context("lease " + settings_.credential_path);
  const auto* username = secret->data.find("username");
  const auto* password = secret->data.find("password");
  if (username == nullptr || password == nullptr || username->empty() || password->empty()) {
    return Error::permanent("lease " + settings_.credential_path +
                            ": the secret has no username and password fields");
  }
  if (username->hasNul() || password->hasNul()) {
    return Error::permanent("lease " + settings_.credential_path +
                            ": username or password contains a NUL byte");
  }
  relay::SmtpCredential credential{username->clone(), password->clone(), secret->lease_id};
  log::info("credential_leased",
            {{"path", settings_.credential_path},
             {"lease_id", secret->lease_id},
             {"lease_seconds", static_cast<std::int64_t>(secret->lease_duration.count())},
             {"renewable", secret->renewable}});
  std::lock_guard lock(mutex_);
  credential_ = std::move(credential);
  return {};
}

Status CredentialKeeper::replace() {
  const std::string old_lease = leaseId();
  if (auto s = lease(); !s) return s;
  if (!old_lease.empty()) {
    if (auto s = client_.revokeLease(old_lease); !s) {
      log::warn("lease_revoke_failed", {{"lease_id", old_lease}, {"error", s.error().message}});
    } else {
      log::info("lease_revoked", {{"lease_id", old_lease}});
    }
  }
  return {};
}

bool CredentialKeeper::ready() const {
  std::lock_guard lock(mutex_);
  return credential_.has_value();
}

std::string CredentialKeeper::leaseId() const {
  std::lock_guard lock(mutex_);
  return credential_ ? credential_->lease_id : std::string();
}

Status CredentialKeeper::revokeAll() {
  std::optional<relay::SmtpCredential> credential;
  {
    std::lock_guard lock(mutex_);
    credential.swap(credential_);
  }
  Status result;
  if (credential && !credential->lease_id.empty()) {
    if (auto s = client_.revokeLease(credential->lease_id); !s) {
      log::error("lease_revoke_failed", {{"lease_id", credential->lease_id},
                                         {"error", s.error().message}});
      result = s.error();
    } else {
      log::info("lease_revoked", {{"lease_id", credential->lease_id}});
    }
  }
  if (client_.hasToken()) {
    if (auto s = client_.revokeSelf(); !s) {
      log::error("token_revoke_failed", {{"error", s.error().message}});
      if (result) result = s.error();
    } else {
      log::info("token_revoked");
    }
  }
  return result;
}

}  // namespace sidecar
