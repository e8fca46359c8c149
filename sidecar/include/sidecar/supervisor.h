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

#include "sidecar/config.h"
#include "sidecar/hardening.h"
#include "vault/secret.h"

namespace sidecar {

// Exit code a role uses for errors that restarting cannot fix (bad config, refused
// AppRole login); the supervisor then stops instead of restarting (sysexits EX_CONFIG).
inline constexpr int kExitConfig = 78;
// File descriptors a role inherits.
inline constexpr int kControlFd = 3;
inline constexpr int kListenFd = 4;  // worker only

// The hidden option that tells a role its secret_id comes from the supervisor.
inline constexpr const char* kSecretIdFromSupervisorOption = "--secret-id-from-supervisor";

// `secret_id`: taken from the environment (see hardening.h), handed to every keeper it
// starts; empty when the keeper reads vault.secret_id_file. `run_as`: the user to drop
// to once the socket exists (when started as root).
int runSupervisor(const std::string& self_exe, const std::string& config_path, const Config& config,
                  vault::SecretBytes secret_id, const std::optional<RunAs>& run_as);

}  // namespace sidecar
