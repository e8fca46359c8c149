// roles.h: the contract between the supervisor and the roles it execs (keeper,
// worker): which descriptors a role inherits, which exit codes mean what, and the
// hidden option that tells a keeper where its secret_id comes from. Data only, so the
// supervisor, the keeper and the worker agree on it without including each other.
//
// SECURITY: the keeper (sidecar/keeper/) holds the Vault token and the SMTP
// credentials, has no listening socket and reads only Vault answers and worker
// messages. The worker (sidecar/worker/) owns the client socket (kListenFd, inherited
// from the supervisor), parses client input and speaks SMTP; it never sees the Vault
// token and holds a credential only while its sends and connections use it.
// ERRORS: exit codes: 0 clean stop, kExitConfig for errors a restart cannot fix,
// anything else: the supervisor restarts the role with backoff.
#pragma once

namespace sidecar {

// Exit code a role uses for errors that restarting cannot fix (bad config, refused
// AppRole login); the supervisor then stops instead of restarting (sysexits EX_CONFIG).
inline constexpr int kExitConfig = 78;
// File descriptors a role inherits.
inline constexpr int kControlFd = 3;
inline constexpr int kListenFd = 4;  // worker only

// The hidden option that tells a role its secret_id comes from the supervisor.
inline constexpr const char* kSecretIdFromSupervisorOption = "--secret-id-from-supervisor";

}  // namespace sidecar
