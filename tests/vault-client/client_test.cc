// client_test.cc: the Vault client against a fake transport: paths, bodies, token.
#include "vault/client.h"

#include <doctest/doctest.h>

#include "fake_transport.h"

using namespace vault;

namespace {

struct Fixture {
  Fixture() {
    foundation::initSecretMemoryOrDie();
    auto t = std::make_unique<fakes::FakeTransport>();
    fake = t.get();
    ClientOptions options;
    options.clock = &clock;
    options.max_attempts = 1;  // retries have their own tests (client_api_test.cc)
    client = std::make_unique<Client>(std::move(t), options);
  }
  fakes::FakeClock clock;
  fakes::FakeTransport* fake;
  std::unique_ptr<Client> client;
};

const char* kLogin = R"({"auth":{"client_token":"tok-1","accessor":"a","lease_duration":60,
  "renewable":true,"policies":["p"]}})";

}  // namespace

TEST_CASE_FIXTURE(Fixture, "login posts role_id and secret_id as JSON and keeps the token") {
  fake->enqueue(200, kLogin);
  auto got = client->loginAppRole(foundation::SecretBytes::copyOf(std::string_view("role\"1")),
                                  foundation::SecretBytes::copyOf(std::string_view("sec\\ret\n")));
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  REQUIRE(fake->requests().size() == 1);
  const auto& req = fake->requests()[0];
  CHECK((req.method == HttpMethod::Post));
  CHECK(req.path == "/v1/auth/approle/login");
  CHECK(req.body == R"({"role_id":"role\"1","secret_id":"sec\\ret\u000a"})");
  CHECK(req.token.empty());
  CHECK(client->hasToken());

  fake->enqueue(200, R"({"lease_id":"l/1","lease_duration":30,"renewable":true,
                        "data":{"username":"u","password":"p"}})");
  auto secret = client->read("database/creds/app");
  REQUIRE(secret.ok());
  CHECK(fake->requests()[1].path == "/v1/database/creds/app");
  CHECK(fake->requests()[1].token == "tok-1");
  CHECK(secret->lease_id == "l/1");
}

TEST_CASE_FIXTURE(Fixture, "errors carry the operation and Vault's text") {
  fake->enqueue(400, R"({"errors":["invalid role or secret ID"]})");
  auto got = client->loginAppRole(foundation::SecretBytes::copyOf(std::string_view("r")),
                                  foundation::SecretBytes::copyOf(std::string_view("s")));
  REQUIRE_FALSE(got.ok());
  CHECK((got.error().kind == foundation::ErrorKind::Permanent));
  CHECK(got.error().message == "approle login: HTTP 400: invalid role or secret ID");
  CHECK_FALSE(client->hasToken());

  fake->enqueueFailure();
  auto read = client->read("x/y");
  REQUIRE_FALSE(read.ok());
  CHECK((read.error().kind == foundation::ErrorKind::Temporary));
  CHECK(read.error().message.rfind("read x/y: ", 0) == 0);
}

TEST_CASE_FIXTURE(Fixture, "revoke lease and token") {
  client->setToken(foundation::SecretBytes::copyOf(std::string_view("tok")));
  fake->enqueue(204, "");
  CHECK(client->revokeLease("database/creds/app/x").ok());
  CHECK((fake->requests()[0].method == HttpMethod::Put));
  CHECK(fake->requests()[0].path == "/v1/sys/leases/revoke/database/creds/app/x");
  fake->enqueue(204, "");
  CHECK(client->revokeSelf().ok());
  CHECK(fake->requests()[1].path == "/v1/auth/token/revoke-self");
  CHECK(fake->requests()[1].token == "tok");
  CHECK_FALSE(client->hasToken());
}
