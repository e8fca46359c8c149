// listen_socket.h: the Unix sockets clients connect to (listen.socket_path, and the SMTP
// intake's listen.smtp_socket), created by the supervisor once for every worker
// generation, so a restarted worker inherits them and waiting clients are not refused.
//
// SECURITY: the socket is bound under umask 0777 (no one can connect), then given its
// group, then its mode: the group's members get in only once both are in place. A path
// that exists and is not a socket is refused (never unlinked); a stale socket from an
// earlier run is replaced. The supervisor holds no secret and parses no client input.
// ERRORS: createListenSocket() returns -1 after a log line (listen_failed) naming the
// socket and the cause; nothing is left at the path when the group is unknown.
#pragma once

#include <sys/types.h>

#include <string>

#include "sidecar/base/config.h"

namespace sidecar {

// listen.socket_group: a numeric gid or a group name from the group database. False
// when neither (out unchanged).
bool resolveGroup(const std::string& name, gid_t& out);

// The listening socket at settings.socket_path with settings.socket_group (if set) and
// settings.socket_mode; close-on-exec (the supervisor passes it to the worker itself).
int createListenSocket(const ListenSettings& settings);

// Logs socket_ready: who may connect (owner, group, mode as the file system has them).
void logSocketReady(const ListenSettings& settings);

}  // namespace sidecar
