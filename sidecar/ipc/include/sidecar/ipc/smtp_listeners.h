// smtp_listeners.h: the SMTP intake's listening sockets, created by the supervisor
// (so a restarted worker inherits them and waiting clients are not refused) and
// handed to the worker at fixed descriptor numbers.
//
// SECURITY: TCP listens on loopback only (127.0.0.1 and ::1), never on a wildcard
// address; who connects is then asked of the kernel (peer_identity.h). The Unix socket
// is made like the HTTP one (mode and group from listen.socket_mode/socket_group).
// ERRORS: Result with the failing call's errno text.
#pragma once

#include <cstdint>

#include "foundation/result.h"

namespace sidecar::ipc {

// The worker's descriptors: SMTP on the Unix socket, on 127.0.0.1, on ::1 (after
// kControlFd 3 and kListenFd 4). A number that is not a listening socket is not used.
inline constexpr int kSmtpListenFds[3] = {5, 6, 7};

struct LoopbackListeners {
  int ipv4 = -1;
  int ipv6 = -1;  // -1 when the host has no IPv6 loopback
};

// Listening TCP sockets on 127.0.0.1:port and [::1]:port (IPV6_V6ONLY). IPv4 must
// work; ::1 is skipped (logged) where the kernel has no IPv6.
foundation::Result<LoopbackListeners> createLoopbackListeners(std::uint16_t port);

// True if `fd` is an open, listening socket (SO_ACCEPTCONN).
bool isListeningSocket(int fd);

}  // namespace sidecar::ipc
