// fd_passing.cc: sendmsg/recvmsg with SCM_RIGHTS (see fd_passing.h).
//
// SECURITY: receive buffers are SecretBytes; MSG_CMSG_CLOEXEC so a passed descriptor
// never leaks into an exec'd child; extra descriptors are closed.
// ERRORS: errno from the system calls.
#include "sidecar/ipc/fd_passing.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sidecar::ipc {

bool sendPacket(int socket, const Packet& packet, int fd) {
  iovec iov{};
  iov.iov_base = const_cast<char*>(packet.view().data());
  iov.iov_len = packet.size();
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  }
  while (true) {
    const ssize_t n = ::sendmsg(socket, &msg, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n) == packet.size();
    if (errno != EINTR) return false;
  }
}

bool receivePacket(int socket, Packet& into, int& fd) {
  into.wipe();
  fd = -1;
  iovec iov{};
  iov.iov_base = into.data();
  iov.iov_len = kMaxPacket;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return false;

  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (fd < 0)
        fd = received;
      else
        ::close(received);  // only one descriptor is ever expected
    }
  }
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    if (fd >= 0) ::close(fd);
    fd = -1;
    errno = EMSGSIZE;
    return false;
  }
  if (n == 0 && fd < 0) {
    errno = 0;  // end of stream: the peer closed its end
    return false;
  }
  into.setSize(static_cast<std::size_t>(n));
  return true;
}

}  // namespace sidecar::ipc
