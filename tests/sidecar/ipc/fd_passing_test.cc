// fd_passing_test.cc: packets and descriptors over a real SOCK_SEQPACKET socketpair.
#include "sidecar/ipc/fd_passing.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

using namespace sidecar::ipc;

namespace {

struct Pair {
  int a = -1, b = -1;
  Pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
    a = fds[0];
    b = fds[1];
  }
  ~Pair() {
    ::close(a);
    ::close(b);
  }
};

}  // namespace

TEST_CASE("a packet arrives whole, without a descriptor") {
  Pair p;
  Packet out, in;
  REQUIRE(encodeHello(out));
  REQUIRE(sendPacket(p.a, out));
  int fd = 123;
  REQUIRE(receivePacket(p.b, in, fd));
  CHECK(fd == -1);
  CHECK(in.view() == out.view());
}

TEST_CASE("a descriptor travels with its packet, close-on-exec") {
  Pair p;
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  Packet out, in;
  REQUIRE(encodePeerChannel(out));
  REQUIRE(sendPacket(p.a, out, pipe_fds[1]));
  ::close(pipe_fds[1]);
  int fd = -1;
  REQUIRE(receivePacket(p.b, in, fd));
  REQUIRE(fd >= 0);
  CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  // It is the same pipe: what goes in comes out of the end we kept.
  REQUIRE(::write(fd, "z", 1) == 1);
  char c = 0;
  REQUIRE(::read(pipe_fds[0], &c, 1) == 1);
  CHECK(c == 'z');
  ::close(fd);
  ::close(pipe_fds[0]);
}

TEST_CASE("end of stream and an empty non-blocking socket are told apart") {
  Pair p;
  Packet in;
  int fd = -1;
  REQUIRE(::fcntl(p.b, F_SETFL, O_NONBLOCK) == 0);
  CHECK_FALSE(receivePacket(p.b, in, fd));
  CHECK(errno == EAGAIN);
  ::shutdown(p.a, SHUT_WR);
  CHECK_FALSE(receivePacket(p.b, in, fd));
  CHECK(errno == 0);
}

TEST_CASE("a packet larger than kMaxPacket is refused as truncated") {
  Pair p;
  std::string big(kMaxPacket + 100, 'x');
  REQUIRE(::send(p.a, big.data(), big.size(), 0) == static_cast<ssize_t>(big.size()));
  Packet in;
  int fd = -1;
  CHECK_FALSE(receivePacket(p.b, in, fd));
  CHECK(errno == EMSGSIZE);
}
