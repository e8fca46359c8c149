// restart_policy.cc: see restart_policy.h.
//
// SECURITY: see restart_policy.h.
// ERRORS: none.
#include "sidecar/supervisor/restart_policy.h"

#include <sys/wait.h>

#include "sidecar/ipc/roles.h"

namespace sidecar {

int roleExitCode(int wait_status) noexcept {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 128;  // stopped or continued: not an exit (waitpid without WUNTRACED never says so)
}

RestartDecision RestartPolicy::onExit(int wait_status, std::chrono::steady_clock::duration uptime) {
  RestartDecision decision;
  decision.exit_code = roleExitCode(wait_status);
  // Only an exit with the code, not a signal whose number plus 128 happens to match.
  if (WIFEXITED(wait_status) && decision.exit_code == kExitConfig) {
    decision.stop = true;
    return decision;
  }
  if (uptime > kRoleStableAfter) backoff_.reset();
  decision.delay = backoff_.next();
  return decision;
}

}  // namespace sidecar
