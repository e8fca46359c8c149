// scripted_smtp_server.h: a loopback SMTP peer that follows a script, for unit tests
// of the SMTP client (reply classes, per-recipient failures, broken servers).
//
// SECURITY: test-only; listens on 127.0.0.1 with an ephemeral port, plaintext only.
// Each client connection is served on its own thread.
// ERRORS: a client that deviates from the script gets "500 unexpected" and the
// deviation is recorded in transcript().
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

  unsigned short port() const { return port_; }
  std::vector<std::string> transcript() const;  // client command lines, AUTH redacted
  std::vector<std::string> messages() const;    // DATA payloads received
  // The same, byte for byte as they came (dot-stuffed, with the final ".\r\n").
  std::vector<std::string> rawMessages() const;
  int connections() const { return connections_.load(); }

  // A default script: EHLO with AUTH PLAIN, AUTH accepted, MAIL/RCPT/DATA accepted.
  static std::string defaultReply(const std::string& command);

 private:
  void serve();
  void session(int fd);
  Script script_;
  int listen_fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> transcript_;
  std::vector<std::string> messages_;
  std::vector<std::string> raw_messages_;
  std::thread thread_;
  std::vector<std::thread> sessions_;  // joined by serve() when stopping
};

}  // namespace fakes
