// hardening.cc: process hardening and the privilege drop (see hardening.h).
//
// SECURITY: runs before any secret exists in the process, and in every role (each role
// is a fresh exec, which resets the dumpable flag, so each one repeats it).
// ERRORS: every C call's result is checked; failures are Permanent with errno's text.
#include "sidecar/base/hardening.h"

#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace sidecar {
namespace {

foundation::Error failure(const std::string& step) {
  return foundation::Error::permanent(step + ": " + std::strerror(errno));
}

}  // namespace

foundation::Status hardenProcess() {
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) return failure("setrlimit(RLIMIT_CORE, 0)");
  // Also makes /proc/PID/mem and ptrace unavailable to other processes of this user.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return failure("prctl(PR_SET_DUMPABLE, 0)");
  // No set-uid program or file capability can raise what this process (or a child it
  // might exec) may do.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return failure("prctl(PR_SET_NO_NEW_PRIVS)");
  // Files we create (the audit log, a socket before its chmod) are ours alone.
  ::umask(077);
  return {};
}

foundation::Result<std::optional<RunAs>> resolveRunAs(const std::string& user) {
  const uid_t euid = ::geteuid();
  if (user.empty()) {
    if (euid == 0) {
      return foundation::Error::permanent(
          "refusing to run as root: set process.user to the account the sidecar should run "
          "as (it must be able to read the role_id and secret_id files)");
    }
    return std::optional<RunAs>();
  }
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  const int rc = ::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0) {
    errno = rc;
    return failure("process.user: cannot look up \"" + user + "\"");
  }
  if (found == nullptr) {
    return foundation::Error::permanent("process.user: no such user \"" + user + "\"");
  }
  if (found->pw_uid == 0) {
    return foundation::Error::permanent("process.user must not be root");
  }
  if (euid != 0) {
    if (euid != found->pw_uid) {
      return foundation::Error::permanent("process.user is \"" + user +
                                          "\" but the sidecar was started by another user and "
                                          "without root cannot switch to it");
    }
    return std::optional<RunAs>();  // already that user (a role started by the supervisor)
  }
  return std::optional<RunAs>(RunAs{found->pw_uid, found->pw_gid, user});
}

foundation::Status dropPrivileges(const RunAs& target) {
  if (::initgroups(target.user.c_str(), static_cast<gid_t>(target.gid)) != 0) {
    return failure("initgroups(" + target.user + ")");
  }
  if (::setgid(static_cast<gid_t>(target.gid)) != 0) return failure("setgid");
  if (::setuid(static_cast<uid_t>(target.uid)) != 0) return failure("setuid");
  if (::setuid(0) == 0) return foundation::Error::permanent("root could be regained after setuid");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return failure("prctl(PR_SET_DUMPABLE, 0)");
  return {};
}

std::optional<foundation::SecretBytes> takeSecretFromEnvironment(const char* name) {
  char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  const std::size_t length = std::strlen(value);
  auto secret = foundation::SecretBytes::copyOf(std::string_view(value, length));
  // getenv points into the "NAME=value" string of the environment block itself (the
  // initial stack for inherited variables), which is what /proc/PID/environ reads: wipe
  // the whole entry there before unsetenv drops the pointer to it.
  const std::size_t name_length = std::strlen(name) + 1;  // with the '='
  sodium_memzero(value - name_length, name_length + length);
  ::unsetenv(name);
  return secret;
}

}  // namespace sidecar
