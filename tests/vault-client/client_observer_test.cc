// client_observer_test.cc: ClientOptions::observer sees one observation per HTTP
// attempt (operation word, status or transport error, duration on the injected clock),
// and never a path, lease id or token.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fake_transport.h"
#include "vault/client.h"

using namespace vault;
using namespace std::chrono_literals;

namespace {

// A fake transport whose every exchange takes `latency` on the fake clock.
class SlowTransport final : public HttpTransport {
 public:
  SlowTransport(fakes::FakeTransport& inner, fakes::FakeClock& clock,
                std::chrono::milliseconds latency)
      : inner_(inner), clock_(clock), latency_(latency) {}
  foundation::Result<HttpResponse> send(const HttpRequest& request) override {
    clock_.advance(latency_);
    return inner_.send(request);
  }

 private:
  fakes::FakeTransport& inner_;
  fakes::FakeClock& clock_;
  std::chrono::milliseconds latency_;
};

struct Seen {
  std::string operation;
  long status;
  bool transport_error;
  std::chrono::nanoseconds duration;
  unsigned attempt;
};

struct Fixture {
  explicit Fixture(unsigned max_attempts = 3) {
    foundation::initSecretMemoryOrDie();
    ClientOptions options;
    options.clock = &clock;
    options.max_attempts = max_attempts;
    options.uniform = [] { return 0.0; };
    options.observer = [this](const RequestObservation& o) {
      seen.push_back(
          {std::string(o.operation), o.status, o.transport_error, o.duration, o.attempt});
    };
    client = std::make_unique<Client>(std::make_unique<SlowTransport>(fake, clock, 40ms), options);
    client->setToken(foundation::SecretBytes::copyOf(std::string_view("tok-secret")));
  }
  fakes::FakeClock clock;
  fakes::FakeTransport fake;
  std::vector<Seen> seen;
  std::unique_ptr<Client> client;
};

const char* kLease = R"({"lease_id":"smtp/creds/app/L1","lease_duration":60,"renewable":true,
  "data":{"username":"u","password":"p"}})";
const char* kRenew = R"({"lease_id":"smtp/creds/app/L1","lease_duration":60,"renewable":true})";
const char* kAuth = R"({"auth":{"client_token":"t2","accessor":"a","lease_duration":60,
  "renewable":true,"policies":["p"]}})";

}  // namespace

TEST_CASE("each API names its operation, with status and duration") {
  struct Case {
    const char* operation;
    long status;
    const char* body;
    std::function<bool(Client&)> call;
  };
  const Case cases[] = {
      {"read", 200, kLease, [](Client& c) { return c.read("smtp/creds/app").ok(); }},
      {"lease_renew", 200, kRenew,
       [](Client& c) { return c.renewLease("smtp/creds/app/L1", 60s).ok(); }},
      {"lease_revoke", 204, "", [](Client& c) { return c.revokeLease("smtp/creds/app/L1").ok(); }},
      {"token_renew_self", 200, kAuth, [](Client& c) { return c.renewSelf(60s).ok(); }},
      {"token_revoke", 204, "",
       [](Client& c) {
         return c.revokeToken(foundation::SecretBytes::copyOf(std::string_view("old-tok"))).ok();
       }},
      {"approle_login", 200, kAuth,
       [](Client& c) {
         return c
             .loginAppRole(foundation::SecretBytes::copyOf(std::string_view("r")),
                           foundation::SecretBytes::copyOf(std::string_view("s")))
             .ok();
       }},
      {"delete", 204, "", [](Client& c) { return c.remove("secret/x").ok(); }},
      {"list", 404, "", [](Client& c) { return c.list("secret/").ok(); }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.operation);
    Fixture f;
    f.fake.enqueue(c.status, c.body);
    CHECK(c.call(*f.client));
    REQUIRE(f.seen.size() == 1);
    CHECK(f.seen[0].operation == c.operation);
    CHECK(f.seen[0].status == c.status);
    CHECK_FALSE(f.seen[0].transport_error);
    CHECK(f.seen[0].duration == 40ms);
    CHECK(f.seen[0].attempt == 1);
  }
}

TEST_CASE("every attempt is observed: transport errors and retried 5xx") {
  Fixture f(4);
  f.fake.enqueueFailure();
  f.fake.enqueue(503, R"({"errors":["Vault is sealed"]})");
  f.fake.enqueue(200, kRenew);
  REQUIRE(f.client->renewLease("smtp/creds/app/L1", 60s).ok());
  REQUIRE(f.seen.size() == 3);
  CHECK(f.seen[0].transport_error);
  CHECK(f.seen[0].status == 0);
  CHECK(f.seen[0].attempt == 1);
  CHECK(f.seen[1].status == 503);
  CHECK(f.seen[1].attempt == 2);
  CHECK(f.seen[2].status == 200);
  CHECK(f.seen[2].attempt == 3);
  // The backoff sleeps between attempts are not part of a request's duration.
  for (const auto& s : f.seen) CHECK(s.duration == 40ms);
}

TEST_CASE("a wrapped secret_id's two requests are told apart") {
  Fixture f;
  f.fake.enqueue(200, R"({"data":{"creation_path":"auth/approle/role/app/secret-id"}})");
  f.fake.enqueue(200, R"({"data":{"secret_id":"s-1"}})");
  REQUIRE(f.client->unwrapSecretId(foundation::SecretBytes::copyOf(std::string_view("wrap")), "app")
              .ok());
  REQUIRE(f.seen.size() == 2);
  CHECK(f.seen[0].operation == "wrapping_lookup");
  CHECK(f.seen[1].operation == "wrapping_unwrap");
}

TEST_CASE("operation words carry no path, lease id or token") {
  Fixture f;
  f.fake.enqueue(200, kLease);
  f.fake.enqueue(200, kRenew);
  REQUIRE(f.client->read("smtp/creds/app").ok());
  REQUIRE(f.client->renewLease("smtp/creds/app/L1", 60s).ok());
  for (const auto& s : f.seen) {
    CHECK(s.operation.find('/') == std::string::npos);
    CHECK(s.operation.find("L1") == std::string::npos);
    CHECK(s.operation.find("tok") == std::string::npos);
  }
}

TEST_CASE("no observer: requests work as before") {
  foundation::initSecretMemoryOrDie();
  fakes::FakeClock clock;
  auto t = std::make_unique<fakes::FakeTransport>();
  auto* fake = t.get();
  ClientOptions options;
  options.clock = &clock;
  Client client(std::move(t), options);
  fake->enqueue(200, kLease);
  CHECK(client.read("smtp/creds/app").ok());
}
