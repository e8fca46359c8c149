// fd_passing.h: SOCK_SEQPACKET packets with an optional file descriptor (SCM_RIGHTS),
// used between the supervisor and its two roles and between keeper and worker.
//
// SECURITY: packets are read into locked memory (they may carry a credential) of at
// most ipc::kMaxPacket bytes; a truncated packet (MSG_TRUNC) or unexpected control
// data is an error, and any received descriptor beyond the one expected is closed.
// ERRORS: -1/false with errno set, as the underlying system calls.
#pragma once

#include "sidecar/ipc/ipc.h"

namespace sidecar::ipc {

// Sends one packet, with `fd` attached if >= 0. Retries on EINTR.
bool sendPacket(int socket, const Packet& packet, int fd = -1);

// Receives one packet into `into` (blocking unless the socket is non-blocking); `fd`
// is the received descriptor (close-on-exec) or -1. False with errno = 0 at end of
// stream, EMSGSIZE for a truncated packet, EAGAIN when there is nothing to read on a
// non-blocking socket.
bool receivePacket(int socket, Packet& into, int& fd);

}  // namespace sidecar::ipc
