// keeper.h: the keeper role's entry point (smtp-sidecar --role keeper).
//
// SECURITY: the trusted room: it alone holds the Vault token, the AppRole secret_id and
// the leased SMTP logins (sidecar/keeper/README.md). It reads only Vault's answers
// (vault-client's parser) and typed ipc messages from the worker.
// ERRORS: exit codes as in sidecar/ipc/roles.h.
#pragma once

#include <string>

#include "sidecar/base/config.h"

namespace sidecar {

int runKeeper(const Config& config, const std::string& config_path);

}  // namespace sidecar
