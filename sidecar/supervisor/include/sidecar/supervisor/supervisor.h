// supervisor.h: the small parent process that runs the keeper and the worker.
//
// SECURITY: holds no secret (except a secret_id given in its environment, which it
// keeps in locked memory for each keeper it starts) and reads no client input. It creates the
// listening socket once (so a restarted worker inherits it and queued clients are not refused), the
// control channel to each role, and the keeper<->worker channel, which it hands out with
// SCM_RIGHTS. Children die with it (PR_SET_PDEATHSIG): no orphans. ERRORS: returns the exit code: 0
// after a clean shutdown, 78 (EX_CONFIG) when a role reports a configuration or credential error
// that a restart cannot fix.
#pragma once

#include <optional>
#include <string>

#include "foundation/secret.h"
#include "sidecar/base/config.h"
#include "sidecar/base/hardening.h"
#include "sidecar/ipc/roles.h"

namespace sidecar {

// `secret_id`: taken from the environment (see hardening.h), handed to every keeper it
// starts; empty when the keeper reads vault.secret_id_file. `run_as`: the user to drop
// to once the socket exists (when started as root).
int runSupervisor(const std::string& self_exe, const std::string& config_path, const Config& config,
                  foundation::SecretBytes secret_id, const std::optional<RunAs>& run_as);

}  // namespace sidecar
