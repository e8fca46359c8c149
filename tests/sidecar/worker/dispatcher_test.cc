// dispatcher_test.cc: the worker dispatcher's queue limits (issue 17: by count and by
// bytes, checked before a message is accepted, released when it ends) and its retry
// schedule (foundation::Backoff). The keeper link is not connected, so every attempt
// ends "no credential" at once (a temporary failure): asynchronous messages stay held,
// waiting for their next attempt, as they would with Vault or the next hop away.
#include "sidecar/worker/dispatcher.h"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include "worker_test_config.h"

using namespace sidecar;

namespace {

constexpr std::size_t kPerMessage = 1024;   // dispatcher.h: kBytesPerMessage
constexpr std::size_t kPerRecipient = 320;  // dispatcher.h: kBytesPerRecipient
const std::string kRecipient = "rcpt@example.test";

struct Fixture {
  boost::asio::io_context io;
  worker::KeeperLink keeper{io};
  audit::Log audit;
  telemetry::WorkerMetrics metrics;
  Config config;
  worker::WorkerDispatcher dispatcher;

  explicit Fixture(const std::string& listen)
      : config(workertest::configWith("/run/sidecar/smtp.sock", listen)),
        dispatcher(io, keeper, config, audit, metrics) {}

  std::optional<std::string> enqueue(std::size_t bytes) {
    submit::Origin origin;
    origin.profile = "default";
    origin.credential_path = "smtp/creds/app";
    submit::Envelope envelope;
    envelope.from = "app@example.test";
    envelope.recipients = {kRecipient};
    // Without a spool the answer comes before enqueue() returns.
    std::optional<std::string> id;
    dispatcher.enqueue(std::move(origin), std::move(envelope), std::string(bytes, 'm'),
                       [&](submit::EnqueueOutcome outcome) {
                         id = std::move(outcome.id);
                         if (!id) last_refusal = std::move(outcome.refusal);
                       });
    return id;
  }
  submit::EnqueueRefusal last_refusal;
};

std::size_t held(std::size_t message_bytes) {
  return message_bytes + kPerMessage + kPerRecipient;
}

}  // namespace

TEST_CASE("messages handed on are bounded by bytes: 429 with Retry-After, never a drop") {
  Fixture f("max_message_bytes = 16384\nmax_queue_bytes = 65536\n");
  std::vector<std::string> ids;
  while (auto id = f.enqueue(10240)) ids.push_back(*id);
  // 5 x (10,240 + 1,024 + 320) = 57,920 fit in 65,536; a sixth would not.
  CHECK(ids.size() == 65536 / held(10240));
  CHECK(f.dispatcher.inFlight() == ids.size());
  CHECK(f.dispatcher.heldBytes() == ids.size() * held(10240));
  const auto& refusal = f.last_refusal;
  CHECK(refusal.status == 429);
  CHECK(refusal.code == "queue_full");
  CHECK(refusal.retry_after_seconds > 0);
  CHECK(f.dispatcher.full(10240, 1));
  // By bytes, not by count: what still fits is taken.
  CHECK_FALSE(f.dispatcher.full(1000, 1));
  REQUIRE(f.enqueue(1000));
  // Every accepted message is still there, waiting for its next attempt.
  for (const auto& id : ids) {
    auto status = f.dispatcher.status(id);
    REQUIRE(status);
    CHECK((status->state == submit::MessageState::Retrying));
  }
}

TEST_CASE("the count bound (listen.max_queue) still holds for small messages") {
  Fixture f("max_queue = 3\n");
  CHECK(f.enqueue(10));
  CHECK(f.enqueue(10));
  CHECK(f.enqueue(10));
  CHECK(f.dispatcher.full(10, 1));
  CHECK_FALSE(f.enqueue(10));
}

TEST_CASE("an empty queue takes the largest message allowed, so none waits for ever") {
  Fixture f("max_message_bytes = 16384\nmax_queue_bytes = 16384\n");
  CHECK_FALSE(f.dispatcher.full(16384, 1));
  REQUIRE(f.enqueue(16384));
  CHECK(f.dispatcher.heldBytes() == held(16384));  // over the bound: the one exception
  CHECK(f.dispatcher.full(1, 1));
  CHECK_FALSE(f.enqueue(1));
}

TEST_CASE("a synchronous message holds its bytes until it is answered") {
  Fixture f("max_message_bytes = 16384\nmax_queue_bytes = 65536\n");
  bool answered = false;
  submit::Origin origin;
  origin.credential_path = "smtp/creds/app";
  submit::Envelope envelope;
  envelope.from = "app@example.test";
  envelope.recipients = {kRecipient};
  f.dispatcher.submit(origin, envelope, std::string(4096, 's'), [&](submit::SubmitResult r) {
    answered = true;
    CHECK(r.no_credential);
  });
  f.io.run_for(std::chrono::milliseconds(50));
  CHECK(answered);
  CHECK(f.dispatcher.inFlight() == 0);
  CHECK(f.dispatcher.heldBytes() == 0);
}

TEST_CASE("a deferred message's next attempt follows foundation::Backoff (1 s, at most 20% less)") {
  Fixture f("");
  auto id = f.enqueue(100);
  REQUIRE(id);
  auto status = f.dispatcher.status(*id);
  REQUIRE(status);
  CHECK((status->state == submit::MessageState::Retrying));
  CHECK(status->attempts == 1);
  CHECK(status->last.no_credential);
  CHECK(status->next_attempt_in_seconds <= 1);
}
