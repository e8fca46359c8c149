// roles.h: entry points of the two roles the supervisor execs.
//
// SECURITY: runKeeper holds the Vault token and the SMTP credentials, has no listening
// socket and reads only Vault answers and worker messages. runWorker owns the client
// socket (inherited from the supervisor), parses client input and speaks SMTP; it
// never sees the Vault token and holds a credential only for the duration of a send.
// ERRORS: exit codes: 0 clean stop, kExitConfig for errors a restart cannot fix,
// 1 otherwise (the supervisor restarts the role).
#pragma once

#include "sidecar/config.h"

namespace sidecar {

int runKeeper(const Config& config, const std::string& config_path);
int runWorker(const Config& config, const std::string& config_path);

}  // namespace sidecar
