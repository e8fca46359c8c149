// curl_multi_smtp_sender_test.cc: the event-loop SMTP sender against a scripted peer:
// connection reuse per credential, the concurrency limit, a refusal on a reused
// connection confirmed on a new one, and retirement closing a credential's connections.
#include <doctest/doctest.h>

#include <algorithm>
#include <thread>
#include <utility>

#include <boost/asio.hpp>

#include "fakes/scripted_smtp_server.h"
#include "fakes/smtp_test_settings.h"
#include "sidecar/relay/smtp_sender.h"

using namespace sidecar;
using namespace sidecar::relay;
using fakes::plaintextTo;
using fakes::ScriptedSmtpServer;

namespace {

const mailformat::Envelope kEnvelope{"app@example.test", {"a@example.test"}};
auto message() {
  return std::make_shared<const std::string>("Subject: t\r\n\r\nbody\r\n");
}

struct Harness {
  explicit Harness(const ScriptedSmtpServer& server, std::size_t max_concurrent = 4)
      : Harness(plaintextTo(server.port()), max_concurrent) {}
  explicit Harness(const SmtpSettings& settings, std::size_t max_concurrent = 4)
      : sender(makeCurlMultiSmtpSender(io, settings, max_concurrent)) {}
  void send(const char* lease, const char* path = "smtp/creds/app", const char* user = "user") {
    sender->send(kEnvelope, message(),
                 std::make_shared<const SmtpCredential>(fakes::testCredential(lease, path, user)),
                 [this](SendResult r) { results.push_back(std::move(r)); });
  }
  // Runs the loop until `n` results are in (or 10 s pass).
  void waitFor(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (results.size() < n && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(std::chrono::milliseconds(20));
    }
    REQUIRE(results.size() >= n);
  }
  boost::asio::io_context io;
  std::unique_ptr<AsyncSmtpSender> sender;
  std::vector<SendResult> results;
};

int count(const std::vector<std::string>& lines, const std::string& prefix) {
  return static_cast<int>(std::count_if(
      lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; }));
}

}  // namespace

TEST_CASE("messages with the same credential share one logged-in connection") {
  ScriptedSmtpServer server({});
  Harness h(server);
  for (int i = 0; i < 3; ++i) {
    h.send("lease/1");
    h.waitFor(static_cast<std::size_t>(i) + 1);
  }
  for (const auto& r : h.results) CHECK((r.outcome == SendOutcome::Accepted));
  CHECK_FALSE(h.results[0].reused_connection);
  CHECK(h.results[2].reused_connection);
  CHECK(server.connections() == 1);
  CHECK(server.messages().size() == 3);
  CHECK(count(server.transcript(), "AUTH") == 1);
}

TEST_CASE("another credential never uses that connection") {
  ScriptedSmtpServer server({});
  Harness h(server);
  h.send("lease/1");
  h.waitFor(1);
  h.send("lease/2");
  h.waitFor(2);
  CHECK(server.connections() == 2);
  CHECK(h.sender->pools() == 2);
}

TEST_CASE("retiring a credential closes its connections") {
  ScriptedSmtpServer server({});
  Harness h(server);
  h.send("lease/1");
  h.waitFor(1);
  CHECK(count(server.transcript(), "QUIT") == 0);
  h.sender->retire("lease/1");
  CHECK(h.sender->pools() == 0);
  for (int i = 0; i < 50 && count(server.transcript(), "QUIT") == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(count(server.transcript(), "QUIT") == 1);
  h.send("lease/1");  // a late send with it gets a new connection
  h.waitFor(2);
  CHECK(server.connections() == 2);
}

TEST_CASE("at most max_concurrent transfers run; the rest wait in order") {
  ScriptedSmtpServer server({});
  Harness h(server, 1);
  for (int i = 0; i < 4; ++i) h.send("lease/1");
  CHECK(h.sender->active() == 1);
  CHECK(h.sender->waiting() == 3);
  h.waitFor(4);
  CHECK(h.sender->active() == 0);
  CHECK(server.connections() == 1);
  CHECK(server.messages().size() == 4);
}

TEST_CASE("a refusal on a reused connection is tried once more on a new one") {
  int mail_commands = 0;
  ScriptedSmtpServer::Script script;
  script.reply = [&](const std::string& command) {
    // The second MAIL (the first on the reused connection) is refused, as Postfix
    // refuses a sender whose login was deleted after the session logged in.
    if (command.rfind("MAIL FROM", 0) == 0 && ++mail_commands == 2) {
      return std::string("553 5.7.1 Sender address rejected: not owned by user\r\n");
    }
    return ScriptedSmtpServer::defaultReply(command);
  };
  ScriptedSmtpServer server(script);
  Harness h(server);
  h.send("lease/1");
  h.waitFor(1);
  h.send("lease/1");
  h.waitFor(2);
  CHECK((h.results[1].outcome == SendOutcome::Accepted));
  CHECK_FALSE(h.results[1].reused_connection);
  CHECK(server.connections() == 2);
  CHECK(count(server.transcript(), "AUTH") == 2);
}

TEST_CASE("a refusal on a new connection is final") {
  ScriptedSmtpServer server({.reply = [](const std::string& command) {
    if (command.rfind("MAIL FROM", 0) == 0) return std::string("554 5.7.1 no\r\n");
    return ScriptedSmtpServer::defaultReply(command);
  }});
  Harness h(server);
  h.send("lease/1");
  h.waitFor(1);
  CHECK((h.results[0].outcome == SendOutcome::Rejected));
  CHECK(h.results[0].reply.code == 554);
  CHECK(server.connections() == 1);
}

TEST_CASE("two profiles' credentials never share a connection, even without lease ids") {
  ScriptedSmtpServer server({});
  Harness h(server);
  // Secrets without a lease id (a KV path, say): the path keeps them apart.
  h.send("", "smtp/creds/web", "web-user");
  h.waitFor(1);
  h.send("", "smtp/creds/cron", "cron-user");
  h.waitFor(2);
  h.send("", "smtp/creds/web", "web-user");
  h.waitFor(3);
  for (const auto& r : h.results) CHECK((r.outcome == SendOutcome::Accepted));
  CHECK(server.connections() == 2);
  CHECK(h.sender->pools() == 2);
  CHECK(count(server.transcript(), "AUTH") == 2);
  CHECK(h.results[2].reused_connection);  // the web connection, for web again
  // Retiring a lease id closes only the pools of that lease.
  h.sender->retire("lease/none");
  CHECK(h.sender->pools() == 2);
  h.sender->retire("");
  CHECK(h.sender->pools() == 0);
}

TEST_CASE("a server that stops answering is timed out by libcurl's timer") {
  // libcurl's timer is re-armed only for an earlier deadline (later ones are recorded
  // and re-armed when the earlier one fires): the transfer's own timeout must still
  // end it, well before the 10 s connect timeout armed first.
  ScriptedSmtpServer server({.reply = [](const std::string& command) {
    if (command.rfind("MAIL FROM", 0) == 0) return std::string();  // silence
    return ScriptedSmtpServer::defaultReply(command);
  }});
  SmtpSettings settings = plaintextTo(server.port());
  settings.timeout = std::chrono::seconds(1);
  Harness h(settings);
  const auto started = std::chrono::steady_clock::now();
  h.send("lease/1");
  h.waitFor(1);
  CHECK((h.results[0].outcome == SendOutcome::TemporaryFailure));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
}

TEST_CASE("sends of one lease share the caller's credential; libcurl keeps its own copy") {
  ScriptedSmtpServer server({});
  Harness h(server);
  auto credential = std::make_shared<const SmtpCredential>(fakes::testCredential("lease/1"));
  for (int i = 0; i < 3; ++i) {
    h.sender->send(kEnvelope, message(), credential,
                   [&h](SendResult r) { h.results.push_back(std::move(r)); });
  }
  credential.reset();  // the caller lets go at once; queued sends still hold it
  h.waitFor(3);
  for (const auto& r : h.results) CHECK((r.outcome == SendOutcome::Accepted));
  CHECK(server.connections() <= 3);
  CHECK(count(server.transcript(), "AUTH") == server.connections());
}
