// keeper_link_test.cc: the worker's end of the keeper channel, against the test playing
// the keeper on the other end of a real SOCK_SEQPACKET pair with the real ipc encoders.
#include "sidecar/worker/keeper_link.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "sidecar/ipc/fd_passing.h"

using namespace sidecar;
using namespace std::chrono_literals;

namespace {

foundation::SecretBytes sb(std::string_view s) {
  return foundation::SecretBytes::copyOf(s);
}

struct Fixture {
  boost::asio::io_context io;
  worker::KeeperLink link;
  int keeper = -1;  // the test's end
  ipc::Packet in, out;

  // reuse 0: every request reaches the keeper, as the tests of the answers need.
  explicit Fixture(std::chrono::steady_clock::duration reuse = 0s) : link(io, reuse) {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
    keeper = fds[0];
    link.connect(fds[1]);
    CHECK((next() == ipc::MessageType::Hello));
  }
  ~Fixture() { ::close(keeper); }

  // What the worker sent next (blocking).
  ipc::MessageType next(std::uint32_t* request_id = nullptr) {
    int fd = -1;
    REQUIRE(ipc::receivePacket(keeper, in, fd));
    ipc::Reader r(in.view());
    REQUIRE(r.header());
    if (request_id) *request_id = r.requestId();
    return r.type();
  }
  void send() {
    REQUIRE(ipc::sendPacket(keeper, out));
    io.run_for(50ms);
    io.restart();
  }
  // Nothing from the worker is waiting on the keeper's end.
  bool quiet() {
    char byte;
    return ::recv(keeper, &byte, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
  }
  // Answers the request just read with the credential of lease `lease`.
  void answerCredential(std::uint32_t id, std::string_view lease) {
    REQUIRE(ipc::encodeCredential(id, "smtp/creds/app", std::string(lease), 1,
                                  ipc::CredentialKind::Password, sb("user"), sb("pass"), out));
    send();
  }
};

}  // namespace

TEST_CASE("readiness follows the keeper's Status") {
  Fixture f;
  CHECK_FALSE(f.link.ready());
  REQUIRE(ipc::encodeStatus({true, 600, {}}, f.out));
  f.send();
  CHECK(f.link.ready());
  CHECK(f.link.credentialValidSeconds() >= 599);
  REQUIRE(ipc::encodeStatus({false, 0, "vault_not_answering"}, f.out));
  f.send();
  CHECK_FALSE(f.link.ready());
  CHECK(f.link.notReadyReason() == "vault_not_answering");
  // Ready, but valid for 0 s: not ready by the worker's own clock (a keeper that
  // stops talking cannot keep the worker ready past the credential's expiry).
  REQUIRE(ipc::encodeStatus({true, 0, {}}, f.out));
  f.send();
  CHECK_FALSE(f.link.ready());
  CHECK(f.link.notReadyReason() == "credential_expired");
}

TEST_CASE("sends asking for one path share one request and one answer") {
  Fixture f;
  int answers = 0;
  worker::KeeperLink::Credential first, second;
  f.link.requestCredential(0, "smtp/creds/app", [&](auto c) { first = c, ++answers; });
  f.link.requestCredential(0, "smtp/creds/app", [&](auto c) { second = c, ++answers; });
  std::uint32_t id = 0;
  CHECK((f.next(&id) == ipc::MessageType::CredentialRequest));
  REQUIRE(ipc::encodeCredential(id, "smtp/creds/app", "smtp/creds/app/l1", 1,
                                ipc::CredentialKind::Password, sb("user"), sb("pass"), f.out));
  f.send();
  CHECK(answers == 2);
  REQUIRE(first);
  CHECK(first.get() == second.get());  // the same locked copy, not two
  CHECK(first->username.equals("user"));
  CHECK(first->password.equals("pass"));
  CHECK(first->lease_id == "smtp/creds/app/l1");
}

TEST_CASE("an OAuth2 token arrives with its kind, so the relay picks XOAUTH2/OAUTHBEARER") {
  Fixture f;
  worker::KeeperLink::Credential got;
  f.link.requestCredential(0, "oauth2:m365", [&](auto c) { got = c; });
  std::uint32_t id = 0;
  CHECK((f.next(&id) == ipc::MessageType::CredentialRequest));
  REQUIRE(ipc::encodeCredential(id, "oauth2:m365", "oauth2:m365#1", 1,
                                ipc::CredentialKind::OAuth2Token, sb("app@contoso.test"),
                                sb("eyJ.token.sig"), f.out));
  f.send();
  REQUIRE(got);
  CHECK((got->kind == ipc::CredentialKind::OAuth2Token));
  CHECK(got->password.equals("eyJ.token.sig"));
  // The same lease and bytes with another kind is not the credential held.
  worker::KeeperLink::Credential again;
  f.link.requestCredential(0, "oauth2:m365", [&](auto c) { again = c; });
  CHECK((f.next(&id) == ipc::MessageType::CredentialRequest));
  REQUIRE(ipc::encodeCredential(id, "oauth2:m365", "oauth2:m365#1", 1,
                                ipc::CredentialKind::Password, sb("app@contoso.test"),
                                sb("eyJ.token.sig"), f.out));
  f.send();
  REQUIRE(again);
  CHECK(again.get() != got.get());
  CHECK((again->kind == ipc::CredentialKind::Password));
}

TEST_CASE("no credential, and an answer for another path, complete with nothing") {
  Fixture f;
  bool answered = false;
  worker::KeeperLink::Credential got;
  f.link.requestCredential(0, "smtp/creds/app", [&](auto c) { got = c, answered = true; });
  std::uint32_t id = 0;
  CHECK((f.next(&id) == ipc::MessageType::CredentialRequest));
  REQUIRE(ipc::encodeNoCredential(id, f.out));
  f.send();
  CHECK(answered);
  CHECK_FALSE(got);
}

TEST_CASE("a retired lease is reported; a 535 goes to the keeper as CredentialRefused") {
  Fixture f;
  std::string retired;
  f.link.onRetired([&](const std::string& lease) { retired = lease; });
  REQUIRE(ipc::encodeLease(ipc::MessageType::CredentialRetired, {"smtp/creds/app/old"}, f.out));
  f.send();
  CHECK(retired == "smtp/creds/app/old");
  f.link.reportRefused("smtp/creds/app/l1");
  CHECK((f.next() == ipc::MessageType::CredentialRefused));
  ipc::Reader r(f.in.view());
  REQUIRE(r.header());
  ipc::LeaseMessage m;
  REQUIRE(ipc::decodeLease(r, m));
  CHECK(m.lease_id == "smtp/creds/app/l1");
}

TEST_CASE("without a channel every request completes at once with nothing") {
  boost::asio::io_context io;
  worker::KeeperLink link(io);
  bool answered = false;
  link.requestCredential(0, "p", [&](auto c) { answered = c == nullptr; });
  CHECK(answered);
  bool no_figures = false;
  link.requestMetrics([&](auto figures) { no_figures = !figures.has_value(); });
  CHECK(no_figures);
}

TEST_CASE("a credential just named answers the next sends without a keeper round trip") {
  Fixture f(1h);
  REQUIRE(ipc::encodeStatus({true, 600, {}}, f.out));
  f.send();
  auto ask = [&] {
    worker::KeeperLink::Credential got;
    f.link.requestCredential(0, "smtp/creds/app", [&](auto c) { got = c; });
    return got;
  };
  auto first = ask();
  std::uint32_t id = 0;
  CHECK((f.next(&id) == ipc::MessageType::CredentialRequest));
  f.answerCredential(id, "smtp/creds/app/l1");
  // Counted on the wire: three more sends, no request reaches the keeper.
  worker::KeeperLink::Credential again;
  for (int i = 0; i < 3; ++i) {
    again = ask();
    CHECK(again.get() == first.get());
  }
  CHECK(f.quiet());

  SUBCASE("a 535 drops it: the retry asks the keeper") {
    f.link.reportRefused("smtp/creds/app/l1");
    CHECK((f.next() == ipc::MessageType::CredentialRefused));
    CHECK_FALSE(ask());  // waiting for the keeper's answer
    CHECK((f.next(&id) == ipc::MessageType::CredentialRequest));
  }
  SUBCASE("a retired lease drops it") {
    REQUIRE(ipc::encodeLease(ipc::MessageType::CredentialRetired, {"smtp/creds/app/l1"}, f.out));
    f.send();
    CHECK_FALSE(ask());
    CHECK((f.next(&id) == ipc::MessageType::CredentialRequest));
  }
  SUBCASE("a keeper that says not ready drops it") {
    REQUIRE(ipc::encodeStatus({false, 0, "vault_not_answering"}, f.out));
    f.send();
    CHECK_FALSE(ask());
    CHECK((f.next(&id) == ipc::MessageType::CredentialRequest));
  }
  SUBCASE("another lease for the path replaces it once asked again") {
    REQUIRE(ipc::encodeLease(ipc::MessageType::CredentialRetired, {"smtp/creds/app/l1"}, f.out));
    f.send();
    worker::KeeperLink::Credential rotated;
    f.link.requestCredential(0, "smtp/creds/app", [&](auto c) { rotated = c; });
    CHECK((f.next(&id) == ipc::MessageType::CredentialRequest));
    f.answerCredential(id, "smtp/creds/app/l2");
    REQUIRE(rotated);
    CHECK(rotated->lease_id == "smtp/creds/app/l2");
    CHECK(ask().get() == rotated.get());
    CHECK(f.quiet());
  }
}

TEST_CASE("past the reuse time the keeper is asked again") {
  Fixture f(20ms);
  worker::KeeperLink::Credential got;
  f.link.requestCredential(0, "smtp/creds/app", [&](auto c) { got = c; });
  std::uint32_t id = 0;
  CHECK((f.next(&id) == ipc::MessageType::CredentialRequest));
  f.answerCredential(id, "smtp/creds/app/l1");  // runs the loop for 50 ms
  REQUIRE(got);
  worker::KeeperLink::Credential later;
  f.link.requestCredential(0, "smtp/creds/app", [&](auto c) { later = c; });
  CHECK_FALSE(later);
  CHECK((f.next(&id) == ipc::MessageType::CredentialRequest));
}
