// scripted_smtp_server.h: a loopback SMTP peer that follows a script, for unit tests
// of the SMTP client (reply classes, per-recipient failures, broken servers).
//
// SECURITY: test-only; listens on 127.0.0.1 with an ephemeral port, plaintext only.
// Each client connection is served on its own thread (loopback_listener.h).
// ERRORS: a client that deviates from the script gets "500 unexpected" and the
// deviation is recorded in transcript().
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "loopback_listener.h"

namespace fakes {

class ScriptedSmtpServer {
 public:
  // reply(command) returns the reply lines (with CRLF) for each client command line;
  // the DATA payload is collected and answered with data_reply.
  struct Script {
    std::string greeting = "220 fake.test ESMTP\r\n";
    std::function<std::string(const std::string& command)> reply;
    std::string data_reply = "250 2.0.0 Ok: queued as FAKE\r\n";
  };

  explicit ScriptedSmtpServer(Script script);
  ~ScriptedSmtpServer();

  unsigned short port() const { return listener_.port(); }
  std::vector<std::string> transcript() const;  // client command lines, AUTH redacted
  std::vector<std::string> messages() const;    // DATA payloads received
  // The same, byte for byte as they came (dot-stuffed, with the final ".\r\n").
  std::vector<std::string> rawMessages() const;
  int connections() const { return listener_.connections(); }

  // A default script: EHLO with AUTH PLAIN, AUTH accepted, MAIL/RCPT/DATA accepted.
  static std::string defaultReply(const std::string& command);

 private:
  void session(int fd);
  Script script_;
  mutable std::mutex mutex_;
  std::vector<std::string> transcript_;
  std::vector<std::string> messages_;
  std::vector<std::string> raw_messages_;
  LoopbackListener listener_;  // last: stopped before the members its sessions use
};

}  // namespace fakes
