// recording_smtp_peer.h: a scripted loopback SMTP peer that counts round trips, for the
// relay client's tests (PIPELINING, CHUNKING, per-recipient replies, RSET, SASL
// exchanges, STARTTLS injection). A fake, not a mail server: it stands in where the
// test needs to see and count every byte on the wire, which Postfix does not report;
// the same behaviours are also tested against the stack's real Postfix (tests/e2e).
//
// Round trips are counted, not timed: the peer holds its replies until the client has
// stopped sending (no input for kQuietMs), then sends them all at once and counts one
// turn. A client that waits for each reply costs one turn per command; one that
// pipelines costs one turn per flight.
//
// SECURITY: test-only; 127.0.0.1, ephemeral port, plaintext. AUTH lines are kept (the
// tests check their encoding) but only test credentials ever reach it.
// ERRORS: a command out of order gets the 503 a real server would give.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "loopback_listener.h"

namespace fakes {

class RecordingSmtpPeer {
 public:
  static constexpr int kQuietMs = 15;

  struct Script {
    std::string greeting = "220 peer.test ESMTP\r\n";
    // EHLO keyword lines after the name, e.g. {"PIPELINING", "CHUNKING", "AUTH PLAIN"}.
    std::vector<std::string> ehlo = {"PIPELINING", "CHUNKING", "SIZE 10240000", "8BITMIME",
                                     "AUTH PLAIN LOGIN"};
    // Reply to AUTH lines (the first and any continuation); default: LOGIN's two 334s,
    // then 235; 235 at once for every other mechanism.
    std::function<std::string(const std::string& line, int step)> auth;
    std::string starttls_reply = "454 4.7.0 TLS not available\r\n";
    std::set<std::string> refused_recipients;  // get 550
    std::string mail_reply = "250 2.1.0 Ok\r\n";
  };

  explicit RecordingSmtpPeer(Script script);
  ~RecordingSmtpPeer();

  unsigned short port() const { return listener_.port(); }
  int connections() const { return listener_.connections(); }
  int turns() const { return turns_.load(); }
  // QUITs that came in the same flight as the replies before them (pipelined behind
  // the last end of data, RFC 2920), not alone after those replies.
  int pipelinedQuits() const { return pipelined_quits_.load(); }
  std::vector<std::string> commands() const;  // client command lines (no message data)
  std::vector<std::string> messages() const;  // accepted message contents

 private:
  void session(int fd);
  Script script_;
  std::atomic<int> turns_{0};
  std::atomic<int> pipelined_quits_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> commands_;
  std::vector<std::string> messages_;
  LoopbackListener listener_;  // last: stopped before the members its sessions use
};

}  // namespace fakes
