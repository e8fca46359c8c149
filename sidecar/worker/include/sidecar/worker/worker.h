// worker.h: the worker role's entry point (smtp-sidecar --role worker).
//
// SECURITY: the untrusted-input room: it serves the client socket (intake/), speaks
// SMTP (relay/) and never sees the Vault token; it does not link the Vault client.
// ERRORS: exit codes as in sidecar/ipc/roles.h.
#pragma once

#include <string>

#include "sidecar/base/config.h"

namespace sidecar {

int runWorker(const Config& config, const std::string& config_path);

}  // namespace sidecar
