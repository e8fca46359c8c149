// hardening.h: what every smtp-sidecar process does to itself before it holds a secret.
//
// SECURITY: the process limits below keep secrets out of core dumps, out of reach of
// other processes of the same user (ptrace, /proc/PID/mem), and out of files it creates;
// root is dropped to a named user before any role starts. A secret_id handed over in the
// environment is taken into locked memory and erased from the environment block, which
// /proc/PID/environ would otherwise show to the same user for the process's lifetime.
// ERRORS: Permanent errors naming the step that failed; the caller exits (a process that
// cannot harden itself must not go on).
#pragma once

#include <optional>
#include <string>

#include "foundation/result.h"
#include "foundation/secret.h"

namespace sidecar {

// The environment variable that may carry the secret_id (or its wrapping token) instead
// of vault.secret_id_file, for platforms that inject secrets only as variables.
inline constexpr const char* kSecretIdEnvironmentVariable = "SMTP_SIDECAR_SECRET_ID";

// RLIMIT_CORE 0, PR_SET_DUMPABLE 0, umask 077, PR_SET_NO_NEW_PRIVS 1.
foundation::Status hardenProcess();

// Root may run only to drop to `user` (process.user); anyone else must already be that
// user when one is named. Returns the uid/gid to switch to, or nullopt when no switch is
// needed.
struct RunAs {
  unsigned uid = 0;
  unsigned gid = 0;
  std::string user;
};
foundation::Result<std::optional<RunAs>> resolveRunAs(const std::string& user);

// setgroups/initgroups, setgid, setuid, then checks that root cannot be regained and
// makes the process non-dumpable again (a uid change resets the flag).
// `keep_role_switching`: the supervisor, when its roles run as other users, keeps
// exactly CAP_SETUID, CAP_SETGID (to start each role as its user) and CAP_KILL (to
// signal them); every other capability leaves the bounding set first.
foundation::Status dropPrivileges(const RunAs& target, bool keep_role_switching = false);

// In a forked child of such a supervisor, before exec: become the role's user and drop
// every capability (the exec'd role then has none, and cannot regain root).
foundation::Status becomeRoleUser(const RunAs& target);

// The capabilities the supervisor keeps to run roles as their own users.
bool holdsRoleSwitchingCapabilities();

// Moves the variable `name` into locked memory: the bytes in the environment block are
// overwritten, then the variable is removed. nullopt if it is not set.
std::optional<foundation::SecretBytes> takeSecretFromEnvironment(const char* name);

}  // namespace sidecar
