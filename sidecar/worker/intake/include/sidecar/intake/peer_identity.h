// peer_identity.h: who is on the other end of an SMTP connection, from the kernel.
//
// SECURITY: the only source of a caller's identity for the SMTP intake (there is no
// AUTH). On the Unix socket: SO_PEERCRED (uid, gid, pid recorded at connect). On
// loopback TCP: the uid that owns the peer's socket, looked up in the kernel's socket
// table with NETLINK_SOCK_DIAG (inet_diag_req_v2 with the connection's exact 4-tuple,
// answer idiag_uid), which also works between containers that share a pod's network
// namespace. A TCP peer has no gid or pid here (profiles match it by uid only); a
// peer that is not on loopback, or whose socket the kernel does not report, is not
// identified.
// ERRORS: Result; the caller refuses the connection.
#pragma once

#include "foundation/result.h"
#include "sidecar/intake/profile.h"

namespace sidecar::intake {

// Marks a TCP peer's gid: sock_diag reports no group, and (gid_t)-1 is no group.
inline constexpr std::uint32_t kNoGid = 0xffffffffu;

foundation::Result<profile::Peer> unixPeer(int fd);
foundation::Result<profile::Peer> loopbackTcpPeer(int fd);

}  // namespace sidecar::intake
