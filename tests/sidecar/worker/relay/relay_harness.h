// relay_harness.h: runs the relay client (makeAsioSmtpSender) on a test's own event
// loop and collects its results.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio.hpp>

#include "fakes/smtp_test_settings.h"
#include "sidecar/relay/asio_smtp_sender.h"

namespace relaytest {

using namespace sidecar;
using namespace sidecar::relay;

inline const mailformat::Envelope kEnvelope{"app@example.test", {"a@example.test"}};
inline std::shared_ptr<const std::string> message(std::string text = "Subject: t\r\n\r\nbody\r\n") {
  return std::make_shared<const std::string>(std::move(text));
}

struct Harness {
  explicit Harness(const SmtpSettings& settings, std::size_t max_connections = 4)
      : sender(makeAsioSmtpSender(io, settings, max_connections)) {}
  explicit Harness(unsigned short port, std::size_t max_connections = 4)
      : Harness(fakes::plaintextTo(port), max_connections) {}

  void send(const char* lease = "lease/1", const char* path = "smtp/creds/app",
            const char* user = "user") {
    sendWith(std::make_shared<const SmtpCredential>(fakes::testCredential(lease, path, user)));
  }
  void sendWith(std::shared_ptr<const SmtpCredential> credential,
                mailformat::Envelope envelope = kEnvelope,
                std::shared_ptr<const std::string> text = message()) {
    sender->send(std::move(envelope), std::move(text), std::move(credential),
                 [this](SendResult r) { results.push_back(std::move(r)); });
  }
  // Runs the loop until `n` results are in (or 10 s pass).
  void waitFor(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (results.size() < n && std::chrono::steady_clock::now() < deadline) runFor(20);
    REQUIRE(results.size() >= n);
  }
  void runFor(int ms) {
    io.restart();
    io.run_for(std::chrono::milliseconds(ms));
  }
  // Runs the loop until `done()` (or 5 s pass).
  template <typename Fn>
  bool runUntil(Fn done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline) runFor(10);
    return done();
  }
  boost::asio::io_context io;
  std::unique_ptr<AsyncSmtpSender> sender;
  std::vector<SendResult> results;
};

inline int count(const std::vector<std::string>& lines, const std::string& prefix) {
  return static_cast<int>(std::count_if(
      lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; }));
}

}  // namespace relaytest
