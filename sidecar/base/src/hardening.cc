// hardening.cc: process hardening and the privilege drop (see hardening.h).
//
// SECURITY: runs before any secret exists in the process, and in every role (each role
// is a fresh exec, which resets the dumpable flag, so each one repeats it).
// ERRORS: every C call's result is checked; failures are Permanent with errno's text.
#include "sidecar/base/hardening.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

constexpr std::uint32_t bit(int cap) {
  return 1u << cap;
}
// CAP_SETUID, CAP_SETGID and CAP_KILL are all below 32: the first word is enough.
constexpr std::uint32_t kRoleSwitching = bit(CAP_SETUID) | bit(CAP_SETGID) | bit(CAP_KILL);

// capset(2) without libcap: the kernel's v3 interface, two 32-bit words per set.
bool setCapabilities(std::uint32_t effective, std::uint32_t permitted) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {{effective, permitted, 0}, {0, 0, 0}};
  return ::syscall(SYS_capset, &header, data) == 0;
}

bool getCapabilities(std::uint32_t& effective, std::uint32_t& permitted) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  effective = data[0].effective;
  permitted = data[0].permitted;
  return data[1].effective == 0 && data[1].permitted == 0;
}

foundation::Status switchUser(const RunAs& target) {
  if (::initgroups(target.user.c_str(), static_cast<gid_t>(target.gid)) != 0) {
    return failure("initgroups(" + target.user + ")");
  }
  if (::setgid(static_cast<gid_t>(target.gid)) != 0) return failure("setgid");
  if (::setuid(static_cast<uid_t>(target.uid)) != 0) return failure("setuid");
  return {};
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

foundation::Status dropPrivileges(const RunAs& target, bool keep_role_switching) {
  if (keep_role_switching) {
    // While still root: nothing but the three may ever come back, then keep the
    // permitted set across setuid (the effective set empties at the switch).
    for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
      if ((kRoleSwitching & bit(cap)) != 0 && cap < 32) continue;
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
        return failure("prctl(PR_CAPBSET_DROP)");
      }
    }
    if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return failure("prctl(PR_SET_KEEPCAPS)");
  }
  if (auto s = switchUser(target); !s) return s;
  // With an empty effective set (always after leaving uid 0), root cannot come back.
  if (::setuid(0) == 0) return foundation::Error::permanent("root could be regained after setuid");
  if (keep_role_switching) {
    if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return failure("prctl(PR_SET_KEEPCAPS, 0)");
    if (!setCapabilities(kRoleSwitching, kRoleSwitching)) return failure("capset");
  } else if (!setCapabilities(0, 0)) {
    return failure("capset");
  }
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return failure("prctl(PR_SET_DUMPABLE, 0)");
  return {};
}

foundation::Status becomeRoleUser(const RunAs& target) {
  if (auto s = switchUser(target); !s) return s;
  // The supervisor's uids were not 0, so setuid kept its capabilities: drop them all.
  if (!setCapabilities(0, 0)) return failure("capset");
  if (::setuid(0) == 0) return foundation::Error::permanent("root could be regained in a role");
  return {};
}

bool holdsRoleSwitchingCapabilities() {
  std::uint32_t effective = 0, permitted = 0;
  return getCapabilities(effective, permitted) && effective == kRoleSwitching &&
         permitted == kRoleSwitching;
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
