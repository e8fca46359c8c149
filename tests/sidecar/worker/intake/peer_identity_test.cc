// peer_identity_test.cc: the kernel's word on who connected, on real sockets:
// SO_PEERCRED on a Unix socket pair, sock_diag on loopback TCP (IPv4 and IPv6).
//
// SECURITY: the identity the SMTP intake trusts instead of AUTH; this checks it names
// this process's uid for its own connections, and refuses a non-loopback peer.
// ERRORS: doctest assertions; a host without IPv6 loopback skips only that case.
#include "sidecar/intake/peer_identity.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sidecar/ipc/smtp_listeners.h"

namespace {

struct Connected {
  int client = -1;
  int server = -1;
  ~Connected() {
    if (client >= 0) ::close(client);
    if (server >= 0) ::close(server);
  }
};

// A listener on the loopback address of `family` (port 0), one connection to it.
bool connectLoopback(int family, Connected& out) {
  const int listener = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return false;
  sockaddr_storage address{};
  socklen_t length = 0;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&address);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&address);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    length = sizeof *a;
  }
  bool ok = ::bind(listener, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
            ::listen(listener, 1) == 0 &&
            ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  if (ok) {
    out.client = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ok = out.client >= 0 &&
         ::connect(out.client, reinterpret_cast<sockaddr*>(&address), length) == 0;
    if (ok) out.server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ok = ok && out.server >= 0;
  }
  ::close(listener);
  return ok;
}

}  // namespace

TEST_CASE("SO_PEERCRED names this process on a Unix socket pair") {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  auto peer = sidecar::intake::unixPeer(pair[0]);
  ::close(pair[0]);
  ::close(pair[1]);
  REQUIRE_MESSAGE(peer.ok(), peer.errorMessage());
  CHECK(peer->uid == ::getuid());
  CHECK(peer->gid == ::getgid());
  CHECK(peer->pid == ::getpid());
}

TEST_CASE("sock_diag names the uid owning the peer's loopback TCP socket") {
  for (const int family : {AF_INET, AF_INET6}) {
    CAPTURE(family);
    Connected c;
    if (!connectLoopback(family, c)) {
      REQUIRE(family == AF_INET6);  // IPv4 loopback always exists
      MESSAGE("no IPv6 loopback on this host: that case is skipped");
      continue;
    }
    auto peer = sidecar::intake::loopbackTcpPeer(c.server);
    REQUIRE_MESSAGE(peer.ok(), peer.errorMessage());
    CHECK(peer->uid == ::getuid());
    CHECK(peer->gid == sidecar::intake::kNoGid);  // the kernel reports no group
    CHECK(peer->pid == 0);
  }
}

TEST_CASE("a socket that is not loopback TCP is not identified by sock_diag") {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  CHECK_FALSE(sidecar::intake::loopbackTcpPeer(pair[0]).ok());
  ::close(pair[0]);
  ::close(pair[1]);
}

TEST_CASE("loopback listeners: 127.0.0.1 and ::1, listening, never a wildcard") {
  auto listeners = sidecar::ipc::createLoopbackListeners(0);
  REQUIRE_MESSAGE(listeners.ok(), listeners.errorMessage());
  for (const int fd : {listeners->ipv4, listeners->ipv6}) {
    if (fd < 0) continue;
    CHECK(sidecar::ipc::isListeningSocket(fd));
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    if (address.ss_family == AF_INET) {
      CHECK(reinterpret_cast<sockaddr_in*>(&address)->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    } else {
      CHECK(IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<sockaddr_in6*>(&address)->sin6_addr));
    }
    ::close(fd);
  }
  CHECK_FALSE(sidecar::ipc::isListeningSocket(-1));
}
