// recording_smtp_peer.cc: see recording_smtp_peer.h.
#include "recording_smtp_peer.h"

#include <poll.h>
#include <sys/socket.h>

namespace fakes {
namespace {

// The address between < and > of "MAIL FROM:<a>" / "RCPT TO:<a>".
std::string bracketed(const std::string& line) {
  const auto open = line.find('<');
  const auto close = line.find('>');
  if (open == std::string::npos || close == std::string::npos || close < open) return {};
  return line.substr(open + 1, close - open - 1);
}

}  // namespace

RecordingSmtpPeer::RecordingSmtpPeer(Script script)
    : script_(std::move(script)),
      listener_([this](int fd) { session(fd); }, /*backlog=*/64, /*poll_ms=*/20) {}

RecordingSmtpPeer::~RecordingSmtpPeer() = default;

std::vector<std::string> RecordingSmtpPeer::commands() const {
  std::lock_guard lock(mutex_);
  return commands_;
}

std::vector<std::string> RecordingSmtpPeer::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

void RecordingSmtpPeer::session(int fd) {
  if (!sendAll(fd, script_.greeting)) return;
  ++turns_;
  std::string in;
  std::string out;
  bool in_mail = false;
  int accepted = 0;
  bool in_data = false;
  std::string data;
  std::size_t bdat_left = 0;
  bool bdat_discard = false;
  int auth_step = -1;  // >= 0 while an AUTH exchange goes on
  bool quit = false;
  char chunk[65536];
  while (!listener_.stopping() && !quit) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, kQuietMs);
    if (ready <= 0) {
      // The client has stopped sending: it is waiting for these replies.
      if (!out.empty()) {
        if (!sendAll(fd, out)) return;
        out.clear();
        ++turns_;
      }
      continue;
    }
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return;
    in.append(chunk, static_cast<std::size_t>(n));
    while (true) {
      if (bdat_left > 0) {
        const std::size_t take = std::min(bdat_left, in.size());
        if (!bdat_discard) data.append(in, 0, take);
        in.erase(0, take);
        bdat_left -= take;
        if (bdat_left > 0) break;
        if (bdat_discard) {
          out += "554 5.5.1 Error: no valid recipients\r\n";
        } else {
          {
            std::lock_guard lock(mutex_);
            messages_.push_back(data);
          }
          out += "250 2.0.0 Ok: queued\r\n";
          in_mail = false;
          accepted = 0;
        }
        data.clear();
        continue;
      }
      const auto nl = in.find("\r\n");
      if (nl == std::string::npos) break;
      std::string line = in.substr(0, nl);
      in.erase(0, nl + 2);
      if (in_data) {
        if (line == ".") {
          in_data = false;
          {
            std::lock_guard lock(mutex_);
            messages_.push_back(data);
          }
          data.clear();
          in_mail = false;
          accepted = 0;
          out += "250 2.0.0 Ok: queued\r\n";
        } else {
          data += (startsWith(line, "..") ? line.substr(1) : line) + "\r\n";
        }
        continue;
      }
      {
        std::lock_guard lock(mutex_);
        commands_.push_back(line);
      }
      const std::string cmd = upper(line);
      if (auth_step >= 0 || startsWith(cmd, "AUTH ")) {
        ++auth_step;
        std::string reply;
        if (script_.auth) {
          reply = script_.auth(line, auth_step);
        } else if (startsWith(cmd, "AUTH LOGIN")) {
          reply = "334 VXNlcm5hbWU6\r\n";
        } else if (auth_step == 1 && startsWith(commands_[commands_.size() - 2], "AUTH LOGIN")) {
          reply = "334 UGFzc3dvcmQ6\r\n";
        } else {
          reply = "235 2.7.0 Authentication successful\r\n";
        }
        if (!startsWith(reply, "334")) auth_step = -1;
        out += reply;
      } else if (startsWith(cmd, "EHLO")) {
        out += script_.ehlo.empty() ? "250 peer.test\r\n" : "250-peer.test\r\n";
        for (std::size_t i = 0; i < script_.ehlo.size(); ++i) {
          out += (i + 1 == script_.ehlo.size() ? "250 " : "250-") + script_.ehlo[i] + "\r\n";
        }
      } else if (startsWith(cmd, "STARTTLS")) {
        out += script_.starttls_reply;
      } else if (startsWith(cmd, "MAIL FROM:")) {
        if (in_mail) {
          out += "503 5.5.1 Error: nested MAIL command\r\n";
        } else {
          out += script_.mail_reply;
          in_mail = startsWith(script_.mail_reply, "250");
        }
      } else if (startsWith(cmd, "RCPT TO:")) {
        if (!in_mail) {
          out += "503 5.5.1 Error: need MAIL command\r\n";
        } else if (script_.refused_recipients.count(bracketed(line)) != 0) {
          out += "550 5.1.1 <" + bracketed(line) + ">: Recipient address rejected\r\n";
        } else {
          ++accepted;
          out += "250 2.1.5 Ok\r\n";
        }
      } else if (cmd == "DATA") {
        if (!in_mail) {
          out += "503 5.5.1 Error: need MAIL command\r\n";
        } else if (accepted == 0) {
          out += "554 5.5.1 Error: no valid recipients\r\n";
        } else {
          in_data = true;
          out += "354 End data with <CR><LF>.<CR><LF>\r\n";
        }
      } else if (startsWith(cmd, "BDAT ")) {
        bdat_left = std::stoul(line.substr(5));
        bdat_discard = !in_mail || accepted == 0;
        if (bdat_left == 0)
          out += bdat_discard ? "554 5.5.1 Error: no valid recipients\r\n" : "250 Ok\r\n";
      } else if (cmd == "RSET" || cmd == "NOOP") {
        in_mail = false;
        accepted = 0;
        out += "250 2.0.0 Ok\r\n";
      } else if (cmd == "QUIT") {
        if (!out.empty()) ++pipelined_quits_;
        out += "221 2.0.0 Bye\r\n";
        quit = true;
      } else {
        out += "502 5.5.2 Error: command not recognized\r\n";
      }
    }
  }
  if (!out.empty()) sendAll(fd, out);
}

}  // namespace fakes
