// smtp_server.h: the worker's SMTP intake: RFC 5321 submission on a Unix socket and on
// loopback TCP, driving smtp_session.h on Asio, handing messages to the same
// Dispatcher as the HTTP intake.
//
// SECURITY: faces every local process that can open the socket or reach the loopback
// port. The caller is identified at accept by the kernel (peer_identity.h) and matched
// to a profile through SubmitServer::admit(), so HTTP and SMTP share each profile's
// bucket and counters; no profile or no identity: 554 5.7.1 and close. The profile's
// rules are those of submission_policy.h. Limits: listen.smtp_max_connections open
// connections (more get 421), listen.smtp_timeout_seconds per command, and those of
// SmtpSession. Nothing is read while a message is being delivered (no unbounded
// pipelined input). No credential reaches this code.
// ERRORS: SMTP replies to the client; accept errors are logged and accepting goes on.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "foundation/result.h"
#include "sidecar/base/config.h"
#include "sidecar/intake/smtp_session.h"
#include "sidecar/intake/submit_server.h"
#include "sidecar/relay/smtp_sender.h"

namespace sidecar::intake {

// The reply after DATA for a dispatcher's result: the next hop's answer, with the
// recipients it refused named when it took the message for the others. The one place
// that decides what a 250 promises; with the spool (issue 14) it becomes "stored".
SmtpReply replyForResult(const submit::SubmitResult& result);

// The message the SMTP intake hands on for one delivery, built as the other paths build
// theirs: the raw path's normalisation (CRLF only, no bare CR or NUL, a header section),
// Bcc removed, a bare local From qualified, every header naming a sender checked, a
// missing From added (`envelope_from`). Or the refusal (550). Pure; the exact bytes it
// leads to on the wire: tests/sidecar/worker/wire_bytes_test.cc.
struct SmtpPrepared {
  std::string message;
  mailformat::HeaderSummary headers;
};
struct SmtpRefusal {
  SmtpReply reply;
  bool sender_refused = false;  // counted and logged as such
};
std::variant<SmtpPrepared, SmtpRefusal> prepareSmtpMessage(std::string_view envelope_from,
                                                           std::string received,
                                                           const Profile& profile);

class SmtpConnection;

class SmtpServer {
 public:
  SmtpServer(boost::asio::io_context& io, const ListenSettings& settings,
             submit::SubmitServer& profiles, submit::Dispatcher& dispatcher);
  ~SmtpServer();

  // Adopts an inherited listening socket: a Unix socket (SO_PEERCRED) or loopback TCP
  // (sock_diag).
  foundation::Status adoptUnix(int listening_fd);
  foundation::Status adoptTcp(int listening_fd);
  // Stops accepting; idle connections get 421 4.3.2, a message being delivered gets its
  // answer first.
  void close();

  std::size_t connections() const noexcept { return open_; }
  std::uint64_t refused() const noexcept { return refused_; }

 private:
  friend class SmtpConnection;
  void acceptUnix();
  void acceptTcp(std::size_t index);
  bool admitConnection();  // under the connection limit
  // One accepted connection, from either listener: refused (421 over the limit; 554
  // for a caller `identify` cannot name, or one no profile admits) or served with its
  // caller's profile. `identify` asks the kernel; it is not called over the limit.
  using Identify = std::function<foundation::Result<profile::Peer>()>;
  void welcome(boost::asio::generic::stream_protocol::socket socket, const Identify& identify,
               log::Level unidentified_level);

  boost::asio::io_context& io_;
  ListenSettings settings_;
  submit::SubmitServer& profiles_;
  submit::Dispatcher& dispatcher_;
  boost::asio::local::stream_protocol::acceptor unix_acceptor_;
  std::list<boost::asio::ip::tcp::acceptor> tcp_acceptors_;
  std::list<std::weak_ptr<SmtpConnection>> live_;
  std::size_t open_ = 0;
  std::uint64_t refused_ = 0;
  bool closed_ = false;
};

}  // namespace sidecar::intake
