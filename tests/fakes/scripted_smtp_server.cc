// scripted_smtp_server.cc: see scripted_smtp_server.h.
#include "scripted_smtp_server.h"

#include <poll.h>
#include <sys/socket.h>

namespace fakes {

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

namespace {
ScriptedSmtpServer::Script withDefaultReply(ScriptedSmtpServer::Script script) {
  if (!script.reply) script.reply = ScriptedSmtpServer::defaultReply;
  return script;
}
}  // namespace

// The script is complete before the listener's first session can read it.
ScriptedSmtpServer::ScriptedSmtpServer(Script script)
    : script_(withDefaultReply(std::move(script))),
      listener_([this](int fd) { session(fd); }, /*backlog=*/16, /*poll_ms=*/50) {}

ScriptedSmtpServer::~ScriptedSmtpServer() = default;

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

void ScriptedSmtpServer::session(int fd) {
  if (!sendAll(fd, script_.greeting)) return;
  if (!startsWith(script_.greeting, "220")) return;
  std::string buffer;
  bool in_data = false;
  std::string data;
  std::string raw;
  char chunk[4096];
  while (!listener_.stopping()) {
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
