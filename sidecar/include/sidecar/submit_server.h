// submit_server.h: the HTTP/1.1 submission API on a Unix socket (Boost.Beast).
//
// SECURITY: the listener faces every local process that can open the socket (mode
// from listen.socket_mode). Requests are size-limited (headers 16 KiB, body
// listen.max_message_bytes), idle connections time out, and all parsing of what a
// client sends goes through submit_request.h. No credential ever reaches this code.
// ERRORS: HTTP answers with a stable JSON body {"error":{"code","message"}}.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <functional>
#include <memory>
#include <string>

#include "sidecar/config.h"
#include "sidecar/smtp_sender.h"
#include "sidecar/submit_request.h"
#include "vault/result.h"

namespace sidecar::submit {

struct SubmitResult {
  bool no_credential = false;  // nothing was sent: the sidecar holds no valid credential
  relay::SendResult send;
};

// What the server hands a parsed submission to. `done` may be called from any thread.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual void submit(Envelope envelope, std::string message,
                      std::function<void(SubmitResult)> done) = 0;
  virtual bool ready() const = 0;
};

class SubmitServer {
 public:
  SubmitServer(boost::asio::io_context& io, ListenSettings settings, Dispatcher& dispatcher);
  ~SubmitServer();

  // Creates the socket (replacing a stale one), sets its mode, starts accepting.
  vault::Status listen();
  // Serves on an already listening socket (inherited from the supervisor, which owns
  // the socket file).
  vault::Status adopt(int listening_fd);
  // Stops accepting (removing the socket file if listen() created it); open
  // connections finish their request.
  void close();

 private:
  void accept();
  boost::asio::io_context& io_;
  ListenSettings settings_;
  Dispatcher& dispatcher_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  bool listening_ = false;
  bool owns_socket_file_ = false;
};

}  // namespace sidecar::submit
