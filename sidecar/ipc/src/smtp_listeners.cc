// smtp_listeners.cc: loopback TCP listeners for the SMTP intake (see the header).
//
// SECURITY: binds 127.0.0.1 and ::1 only.
// ERRORS: Result; every socket call is checked.
#include "sidecar/ipc/smtp_listeners.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "sidecar/base/log.h"

namespace sidecar::ipc {
namespace {

foundation::Result<int> listenOn(int family, std::uint16_t port) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return foundation::Error::internal(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = in6addr_loopback;
    length = sizeof *a;
  }
  const bool ok =
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
      (family != AF_INET6 || ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0) &&
      ::bind(fd, reinterpret_cast<sockaddr*>(&storage), length) == 0 &&
      ::listen(fd, SOMAXCONN) == 0;
  if (!ok) {
    const int saved = errno;
    ::close(fd);
    return foundation::Error::internal(std::string(family == AF_INET ? "127.0.0.1" : "[::1]") +
                                       ":" + std::to_string(port) + ": " + std::strerror(saved));
  }
  return fd;
}

}  // namespace

foundation::Result<LoopbackListeners> createLoopbackListeners(std::uint16_t port) {
  LoopbackListeners out;
  auto v4 = listenOn(AF_INET, port);
  if (!v4) return v4.error();
  out.ipv4 = *v4;
  auto v6 = listenOn(AF_INET6, port);
  if (v6) {
    out.ipv6 = *v6;
  } else {
    log::warn("smtp_ipv6_loopback_unavailable", {{"error", v6.error().message}});
  }
  return out;
}

bool isListeningSocket(int fd) {
  int accepting = 0;
  socklen_t length = sizeof accepting;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 && accepting != 0;
}

}  // namespace sidecar::ipc
