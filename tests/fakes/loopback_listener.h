// loopback_listener.h: the listening half every scripted SMTP peer of the tests shares
// (scripted_smtp_server.h, recording_smtp_peer.h): 127.0.0.1 on an ephemeral port, one
// thread per accepted client, all joined on destruction; and the helpers their
// sessions use. The peers differ only in what a session says.
//
// SECURITY: test-only; loopback, plaintext.
// ERRORS: a socket that cannot be bound throws std::runtime_error (the test fails);
// accept errors are retried.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace fakes {

class LoopbackListener {
 public:
  // session(fd) runs on its own thread for each client; fd is closed when it returns.
  // poll_ms: how often the accept loop and the sessions look at stopping().
  LoopbackListener(std::function<void(int fd)> session, int backlog, int poll_ms);
  // Stops accepting and joins every session (a session must return once stopping()).
  // Declare it as the owner's last member, so it goes before what sessions use.
  ~LoopbackListener();

  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  unsigned short port() const { return port_; }
  int connections() const { return connections_.load(); }
  bool stopping() const { return stopping_.load(); }

 private:
  void serve();
  std::function<void(int)> session_;
  int poll_ms_;
  int listen_fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::vector<std::thread> sessions_;  // joined by serve() when stopping
  std::thread thread_;
};

bool sendAll(int fd, const std::string& data);  // false: the peer is gone
std::string upper(std::string s);
bool startsWith(const std::string& s, const char* prefix);

}  // namespace fakes
