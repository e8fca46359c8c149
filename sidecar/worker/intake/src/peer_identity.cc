// peer_identity.cc: SO_PEERCRED and sock_diag (see peer_identity.h).
//
// SECURITY: the netlink answer is parsed with its lengths checked, and it must name
// exactly the 4-tuple asked for before its uid is believed.
// ERRORS: Result; every call is checked.
#include "sidecar/intake/peer_identity.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sidecar::intake {
namespace {

foundation::Error failure(const char* what) {
  return foundation::Error::internal(std::string(what) + ": " + std::strerror(errno));
}

bool isLoopback(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) != 0;
  }
  return false;
}

// Address and port of `a` in inet_diag's layout (network byte order).
void diagEndpoint(const sockaddr_storage& a, __be32 (&address)[4], __be16& port) {
  std::memset(address, 0, sizeof address);
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    address[0] = v4->sin_addr.s_addr;
    port = v4->sin_port;
  } else {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    std::memcpy(address, &v6->sin6_addr, sizeof v6->sin6_addr);
    port = v6->sin6_port;
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

foundation::Result<profile::Peer> unixPeer(int fd) {
  ucred cred{};
  socklen_t length = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0 || length != sizeof cred) {
    return failure("SO_PEERCRED");
  }
  return profile::Peer{static_cast<std::uint32_t>(cred.uid), static_cast<std::uint32_t>(cred.gid),
                       static_cast<std::int32_t>(cred.pid)};
}

foundation::Result<profile::Peer> loopbackTcpPeer(int fd) {
  sockaddr_storage local{};
  sockaddr_storage remote{};
  socklen_t local_length = sizeof local;
  socklen_t remote_length = sizeof remote;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0) {
    return failure("getsockname");
  }
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &remote_length) != 0) {
    return failure("getpeername");
  }
  if (local.ss_family != remote.ss_family || !isLoopback(remote) || !isLoopback(local)) {
    return foundation::Error::permanent("the peer is not on loopback");
  }

  // The peer's socket: its source is the peer's address, its destination ours.
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST;  // an exact lookup, not a dump
  message.header.nlmsg_seq = 1;
  message.request.sdiag_family = static_cast<__u8>(remote.ss_family);
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = ~0u;
  diagEndpoint(remote, message.request.id.idiag_src, message.request.id.idiag_sport);
  diagEndpoint(local, message.request.id.idiag_dst, message.request.id.idiag_dport);
  message.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  message.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

  Fd diag(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (diag.get() < 0) return failure("socket(NETLINK_SOCK_DIAG)");
  // The kernel answers at once; a bound wait keeps a broken kernel from hanging us.
  const timeval timeout{1, 0};
  if (::setsockopt(diag.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0) {
    return failure("SO_RCVTIMEO");
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(diag.get(), &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) != static_cast<ssize_t>(sizeof message)) {
    return failure("sock_diag request");
  }
  alignas(nlmsghdr) char answer[8192];
  const ssize_t n = ::recv(diag.get(), answer, sizeof answer, 0);
  if (n < 0) return failure("sock_diag answer");
  // Walks the answer's netlink messages by hand (the NLMSG_* macros do C casts),
  // checking each length against what was received.
  const auto received = static_cast<std::size_t>(n);
  constexpr std::size_t kHeader = NLMSG_ALIGN(sizeof(nlmsghdr));
  for (std::size_t offset = 0; offset + sizeof(nlmsghdr) <= received;) {
    nlmsghdr h;
    std::memcpy(&h, answer + offset, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > received - offset) break;
    const char* payload = answer + offset + kHeader;
    const std::size_t payload_length = h.nlmsg_len >= kHeader ? h.nlmsg_len - kHeader : 0;
    offset += NLMSG_ALIGN(h.nlmsg_len);
    if (h.nlmsg_type == NLMSG_ERROR) {
      nlmsgerr error;
      if (payload_length < sizeof error) break;
      std::memcpy(&error, payload, sizeof error);
      errno = -error.error;
      return failure("sock_diag");
    }
    if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY || payload_length < sizeof(inet_diag_msg)) continue;
    inet_diag_msg found;
    std::memcpy(&found, payload, sizeof found);
    const auto& asked = message.request.id;
    if (found.idiag_family != remote.ss_family || found.id.idiag_sport != asked.idiag_sport ||
        found.id.idiag_dport != asked.idiag_dport ||
        std::memcmp(found.id.idiag_src, asked.idiag_src, sizeof asked.idiag_src) != 0 ||
        std::memcmp(found.id.idiag_dst, asked.idiag_dst, sizeof asked.idiag_dst) != 0) {
      continue;
    }
    return profile::Peer{found.idiag_uid, kNoGid, 0};
  }
  return foundation::Error::permanent("the kernel reported no socket for the peer's address");
}

}  // namespace sidecar::intake
