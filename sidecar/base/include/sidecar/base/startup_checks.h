// startup_checks.h: what start-up would refuse, found without starting anything, so
// that `--check-config` (and the supervisor, before it starts a role) can say it at once
// and name the file or setting at fault.
//
// SECURITY: opens the files the configuration names only to see that they can be read
// (by the user running the check) and reads nothing from them: no secret is loaded here.
// ERRORS: Permanent, one problem per entry: "<key> <path>: <reason>".
#pragma once

#include <string>
#include <vector>

#include "sidecar/base/config.h"

namespace sidecar {

// The files start-up reads: vault.ca_file, vault.role_id_file, vault.secret_id_file
// (unless the secret_id comes from the environment), smtp.ca_file (unless tls = none);
// and the directories it writes in: the socket's and the audit file's. Each problem
// names the key and the path.
std::vector<std::string> fileProblems(const Config& config);

// listen.socket_group: a group name that does not exist (a number is always accepted).
std::vector<std::string> socketGroupProblems(const Config& config);

// Everything start-up would refuse: fileProblems, socketGroupProblems, and the user
// check (root without process.user, an unknown process.user, ...: resolveRunAs).
std::vector<std::string> startupProblems(const Config& config);

}  // namespace sidecar
