// fake_transport.h: an HttpTransport that records requests and replays canned answers.
#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "foundation/clock.h"
#include "vault/http_transport.h"

namespace fakes {

struct RecordedRequest {
  vault::HttpMethod method;
  std::string path;
  std::string body;   // test data only: tests may look at what would have been sent
  std::string token;  // empty if none
  std::string wrap_ttl;
};

// Time that moves only when told to (or when the code under test sleeps).
class FakeClock final : public foundation::Clock {
 public:
  foundation::SteadyTime now() override { return now_; }
  void sleepFor(std::chrono::milliseconds d) override {
    now_ += d;
    slept_ += d;
  }
  void advance(std::chrono::milliseconds d) { now_ += d; }
  std::chrono::milliseconds slept() const { return slept_; }

 private:
  foundation::SteadyTime now_{std::chrono::hours(1)};
  std::chrono::milliseconds slept_{0};
};

class FakeTransport final : public vault::HttpTransport {
 public:
  struct Answer {
    long status;
    std::string body;
    bool fail = false;    // a transport failure instead of an answer
    bool unsent = false;  // ... one before the request left (connection refused)
  };

  void enqueue(long status, std::string body) { answers_.push_back({status, std::move(body)}); }
  void enqueueFailure() { answers_.push_back({0, {}, true, false}); }
  void enqueueRefused() { answers_.push_back({0, {}, true, true}); }
  const std::vector<RecordedRequest>& requests() const { return requests_; }

  foundation::Result<vault::HttpResponse> send(const vault::HttpRequest& request) override {
    RecordedRequest r{request.method, request.path,
                      request.body.reveal([](std::string_view v) { return std::string(v); }),
                      request.token
                          ? request.token->reveal([](std::string_view v) { return std::string(v); })
                          : std::string(),
                      request.wrap_ttl};
    requests_.push_back(std::move(r));
    if (answers_.empty()) return foundation::Error::internal("fake transport: no answer queued");
    Answer a = std::move(answers_.front());
    answers_.pop_front();
    if (a.fail && a.unsent) return foundation::Error::notSent("fake transport: connection refused");
    if (a.fail) return foundation::Error::temporary("fake transport: connection reset");
    return vault::HttpResponse{a.status, foundation::SecretBytes::copyOf(std::string_view(a.body))};
  }

 private:
  std::deque<Answer> answers_;
  std::vector<RecordedRequest> requests_;
};

}  // namespace fakes
