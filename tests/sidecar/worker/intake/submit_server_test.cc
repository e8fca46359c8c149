// submit_server_test.cc: the HTTP intake served in-process on a real Unix socket (the
// kernel's SO_PEERCRED names this test's uid), with the real WorkerDispatcher behind
// it. The keeper link is not connected: sends answer "no credential" (503) and
// asynchronous messages wait for their next attempt, so the routes, the answers'
// shape, the queue's byte bound and the framing refusals are seen without a stack.
// (The same server against the real stack: tests/e2e, tests/attack.)
#include "sidecar/intake/submit_server.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "../worker_test_config.h"
#include "sidecar/worker/dispatcher.h"

using namespace sidecar;

namespace {

struct Answer {
  int status = 0;
  std::string head;
  std::string body;
  bool has(const std::string& header) const { return head.find(header) != std::string::npos; }
};

class ServedIntake {
 public:
  explicit ServedIntake(const std::string& listen_extra) {
    char dir_template[] = "/tmp/submit-server-test-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/s.sock";
    config_ = workertest::configWith(path_, listen_extra);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    dispatcher_ =
        std::make_unique<worker::WorkerDispatcher>(io_, keeper_, config_, audit_, metrics_);
    server_ =
        std::make_unique<submit::SubmitServer>(io_, config_.listen, config_.profiles, *dispatcher_);
    REQUIRE(server_->adopt(fd).ok());
    thread_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io_);
      io_.run();
    });
  }

  ~ServedIntake() {
    io_.stop();
    thread_.join();
    server_.reset();
    dispatcher_.reset();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  // One request on its own connection, read until the server closes it.
  Answer exchange(const std::string& request) const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    std::size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server answered and closed early
      sent += static_cast<std::size_t>(n);
    }
    std::string received;
    char buffer[65536];
    while (true) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      received.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    Answer answer;
    const auto end = received.find("\r\n\r\n");
    if (received.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return answer;
    answer.status = std::stoi(received.substr(9, 3));
    answer.head = received.substr(0, end);
    answer.body = received.substr(end + 4);
    return answer;
  }

  // Every member below is used on the io thread while it runs; the test reads the
  // dispatcher only through the socket.
 private:
  std::string dir_;
  std::string path_;
  Config config_;
  boost::asio::io_context io_;
  worker::KeeperLink keeper_{io_};
  audit::Log audit_;
  telemetry::WorkerMetrics metrics_;
  std::unique_ptr<worker::WorkerDispatcher> dispatcher_;
  std::unique_ptr<submit::SubmitServer> server_;
  std::thread thread_;
};

std::string post(const std::string& content_type, const std::string& body,
                 const std::string& extra = "") {
  return "POST /v1/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: " +
         content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
         "\r\n" + body;
}

const std::string kJson =
    R"({"from":"app@example.test","to":"rcpt@example.test","subject":"s","text":"hi"})";

}  // namespace

TEST_CASE("routes, refusals and the answers' shape") {
  ServedIntake intake("");
  struct Row {
    const char* name;
    std::string request;
    int status;
    const char* in_body;
  };
  const Row rows[] = {
      {"health", "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, "\"ok\""},
      {"not ready without a credential",
       "GET /v1/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 503, "not_ready"},
      {"unknown endpoint", "GET /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404,
       "not_found"},
      {"unknown message id",
       "GET /v1/messages/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: x\r\n"
       "Connection: close\r\n\r\n",
       404, "not_found"},
      {"no Host", "GET /v1/health HTTP/1.1\r\nConnection: close\r\n\r\n", 400, "error"},
      {"not JSON", post("application/json", "{nope"), 400, "error"},
      {"data after the object", post("application/json", kJson + "{}"), 400, "error"},
      {"unsupported media type", post("text/plain", "hello"), 415, "unsupported_media_type"},
      {"Transfer-Encoding gzip", post("application/json", "", "Transfer-Encoding: gzip\r\n"), 400,
       "error"},
      {"sync send without a credential", post("application/json", kJson), 503, "no_credential"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    const auto answer = intake.exchange(row.request);
    CHECK(answer.status == row.status);
    CHECK(answer.has("Content-Type: application/json"));
    CHECK(answer.body.find(row.in_body) != std::string::npos);
  }
}

TEST_CASE("an asynchronous message is queued, retried, and its status readable") {
  ServedIntake intake("");
  const auto queued = intake.exchange(post("application/json", kJson, "Prefer: respond-async\r\n"));
  REQUIRE(queued.status == 202);
  const auto at = queued.head.find("Location: /v1/messages/");
  REQUIRE(at != std::string::npos);
  const std::string id = queued.head.substr(at + 23, 32);
  const auto status = intake.exchange("GET /v1/messages/" + id +
                                      " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(status.status == 200);
  CHECK(status.body.find("\"retrying\"") != std::string::npos);
}

TEST_CASE("past listen.max_queue_bytes: 429 queue_full with Retry-After") {
  ServedIntake intake("max_message_bytes = 16384\nmax_queue_bytes = 16384\n");
  const std::string big = R"({"from":"app@example.test","to":"rcpt@example.test","text":")" +
                          std::string(8000, 'b') + "\"}";
  // The first fills the (empty) queue past its bound; the next is refused by bytes.
  CHECK(intake.exchange(post("application/json", big, "Prefer: respond-async\r\n")).status == 202);
  const auto full = intake.exchange(post("application/json", big, "Prefer: respond-async\r\n"));
  CHECK(full.status == 429);
  CHECK(full.has("Retry-After: "));
  CHECK(full.body.find("queue_full") != std::string::npos);
  CHECK(full.body.find("max_queue_bytes") != std::string::npos);
  // A synchronous one too, before any attempt.
  CHECK(intake.exchange(post("application/json", big)).status == 429);
  // The intake is still serving.
  CHECK(intake.exchange("GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status ==
        200);
}
