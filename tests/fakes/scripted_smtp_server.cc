// scripted_smtp_server.cc: see scripted_smtp_server.h.
#include "scripted_smtp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace fakes {
namespace {

bool startsWith(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool sendAll(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::string ScriptedSmtpServer::defaultReply(const std::string& command) {
  const std::string cmd = upper(command);
  if (startsWith(cmd, "EHLO")) return "250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n";
  if (startsWith(cmd, "AUTH")) return "235 2.7.0 Authentication successful\r\n";
  if (startsWith(cmd, "MAIL")) return "250 2.1.0 Ok\r\n";
  if (startsWith(cmd, "RCPT")) return "250 2.1.5 Ok\r\n";
  if (startsWith(cmd, "DATA")) return "354 End data with <CR><LF>.<CR><LF>\r\n";
  if (startsWith(cmd, "RSET") || startsWith(cmd, "NOOP")) return "250 2.0.0 Ok\r\n";
  if (startsWith(cmd, "QUIT")) return "221 2.0.0 Bye\r\n";
  return "502 5.5.2 Error: command not recognized\r\n";
}

ScriptedSmtpServer::ScriptedSmtpServer(Script script) : script_(std::move(script)) {
  if (!script_.reply) script_.reply = defaultReply;
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("bind/listen");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

ScriptedSmtpServer::~ScriptedSmtpServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  thread_.join();
  ::close(listen_fd_);
}

std::vector<std::string> ScriptedSmtpServer::transcript() const {
  std::lock_guard lock(mutex_);
  return transcript_;
}

std::vector<std::string> ScriptedSmtpServer::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

std::vector<std::string> ScriptedSmtpServer::rawMessages() const {
  std::lock_guard lock(mutex_);
  return raw_messages_;
}

void ScriptedSmtpServer::serve() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    // A thread per client: the event-loop sender keeps connections open while it
    // opens others (one per credential).
    sessions_.emplace_back([this, fd] {
      session(fd);
      ::close(fd);
    });
  }
  for (auto& t : sessions_) t.join();
}

void ScriptedSmtpServer::session(int fd) {
  if (!sendAll(fd, script_.greeting)) return;
  if (!startsWith(script_.greeting, "220")) return;
  std::string buffer;
  bool in_data = false;
  std::string data;
  std::string raw;
  char chunk[4096];
  while (!stopping_) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return;
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buffer.find("\r\n")) != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 2);
      if (in_data) {
        raw += line + "\r\n";
        if (line == ".") {
          in_data = false;
          {
            std::lock_guard lock(mutex_);
            messages_.push_back(data);
            raw_messages_.push_back(raw);
          }
          data.clear();
          raw.clear();
          if (!sendAll(fd, script_.data_reply)) return;
        } else {
          data += (startsWith(line, "..") ? line.substr(1) : line) + "\r\n";
        }
        continue;
      }
      {
        std::lock_guard lock(mutex_);
        transcript_.push_back(startsWith(upper(line), "AUTH") ? "AUTH <redacted>" : line);
      }
      const std::string reply = script_.reply(line);
      if (!sendAll(fd, reply)) return;
      if (startsWith(upper(line), "DATA") && startsWith(reply, "354")) in_data = true;
      if (startsWith(upper(line), "QUIT") || startsWith(reply, "421")) return;
    }
  }
}

}  // namespace fakes
