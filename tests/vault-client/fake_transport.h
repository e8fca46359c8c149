// fake_transport.h: an HttpTransport that records requests and replays canned answers.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "vault/http_transport.h"

namespace fakes {

struct RecordedRequest {
  vault::HttpMethod method;
  std::string path;
  std::string body;   // test data only: tests may look at what would have been sent
  std::string token;  // empty if none
};

class FakeTransport final : public vault::HttpTransport {
 public:
  struct Answer {
    long status;
    std::string body;
    bool fail = false;  // a transport failure instead of an answer
  };

  void enqueue(long status, std::string body) { answers_.push_back({status, std::move(body)}); }
  void enqueueFailure() { answers_.push_back({0, {}, true}); }
  const std::vector<RecordedRequest>& requests() const { return requests_; }

  vault::Result<vault::HttpResponse> send(const vault::HttpRequest& request) override {
    RecordedRequest r{request.method, request.path,
                      request.body.reveal([](std::string_view v) { return std::string(v); }),
                      request.token ? request.token->reveal([](std::string_view v) {
                        return std::string(v);
                      })
                                    : std::string()};
    requests_.push_back(std::move(r));
    if (answers_.empty()) return vault::Error::internal("fake transport: no answer queued");
    Answer a = std::move(answers_.front());
    answers_.pop_front();
    if (a.fail) return vault::Error::temporary("fake transport: connection refused");
    return vault::HttpResponse{a.status, vault::SecretBytes::copyOf(std::string_view(a.body))};
  }

 private:
  std::deque<Answer> answers_;
  std::vector<RecordedRequest> requests_;
};

}  // namespace fakes
