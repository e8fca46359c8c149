// client_api_test.cc: the Vault client's API surface, retries and failover, against
// fake transports and a fake clock (no sleeping, no servers).
#include <doctest/doctest.h>

#include "fake_transport.h"
#include "vault/client.h"
#include "vault/request_body.h"

using namespace vault;
using namespace std::chrono_literals;

namespace {

foundation::SecretBytes secret(std::string_view s) {
  return foundation::SecretBytes::copyOf(s);
}
std::string text(const foundation::SecretBytes& s) {
  return s.reveal([](std::string_view v) { return std::string(v); });
}

// N server addresses, each a fake transport.
struct Cluster {
  explicit Cluster(std::size_t nodes, unsigned max_attempts = 4) {
    foundation::initSecretMemoryOrDie();
    std::vector<HttpTransportPtr> transports;
    for (std::size_t i = 0; i < nodes; ++i) {
      auto t = std::make_unique<fakes::FakeTransport>();
      node.push_back(t.get());
      transports.push_back(std::move(t));
    }
    ClientOptions options;
    options.clock = &clock;
    options.max_attempts = max_attempts;
    options.uniform = [] { return 0.0; };  // no jitter: exact delays
    client = std::make_unique<Client>(std::move(transports), options);
    client->setToken(secret("tok"));
  }
  fakes::FakeClock clock;
  std::vector<fakes::FakeTransport*> node;
  std::unique_ptr<Client> client;
};

const char* kKv = R"({"data":{"data":{"user":"u","port":2587},
  "metadata":{"version":3,"created_time":"2026-01-01T00:00:00Z","deletion_time":"","destroyed":false}}})";

}  // namespace

TEST_CASE("request bodies are JSON built in locked memory") {
  foundation::initSecretMemoryOrDie();
  auto body = RequestBody()
                  .text("a", "x\"y")
                  .secret("s", secret("p\\w\n"))
                  .secretBase64("b", secret("hello"))
                  .base64("raw", std::string_view("\x00\xff", 2))
                  .integer("n", -5)
                  .boolean("t", true)
                  .build();
  REQUIRE(body.ok());
  CHECK(text(*body) ==
        R"({"a":"x\"y","s":"p\\w\u000a","b":"aGVsbG8=","raw":"AP8=","n":-5,"t":true})");
  auto empty = RequestBody().build();
  REQUIRE(empty.ok());
  CHECK(text(*empty) == "{}");
}

TEST_CASE("a read retries a 503 with backoff on a single node, then succeeds") {
  Cluster c(1);
  c.node[0]->enqueue(503, R"({"errors":["Vault is sealed"]})");
  c.node[0]->enqueueFailure();
  c.node[0]->enqueue(200, R"({"data":{"k":"v"}})");
  auto got = c.client->read("secret/x");
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(c.node[0]->requests().size() == 3);
  CHECK(c.clock.slept() == 250ms + 500ms);
}

TEST_CASE("the retry budget ends with the last error") {
  Cluster c(1, 3);
  for (int i = 0; i < 3; ++i) c.node[0]->enqueue(500, R"({"errors":["boom"]})");
  auto got = c.client->read("secret/x");
  REQUIRE_FALSE(got.ok());
  CHECK((got.error().kind == foundation::ErrorKind::Temporary));
  CHECK(got.error().message == "read secret/x: HTTP 500: boom");
  CHECK(c.node[0]->requests().size() == 3);
}

TEST_CASE("4xx answers are not retried") {
  Cluster c(2);
  c.node[0]->enqueue(403, R"({"errors":["permission denied"]})");
  auto got = c.client->read("secret/x");
  REQUIRE_FALSE(got.ok());
  CHECK((got.error().kind == foundation::ErrorKind::Permanent));
  CHECK(c.node[0]->requests().size() == 1);
  CHECK(c.node[1]->requests().empty());
}

TEST_CASE("failover: sealed, standby and unreachable nodes are skipped, the answering one kept") {
  Cluster c(3);
  c.node[0]->enqueueRefused();
  c.node[1]->enqueue(503, R"({"errors":["Vault is sealed"]})");
  c.node[2]->enqueue(200, R"({"data":{"k":"v"}})");
  auto got = c.client->read("secret/x");
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(c.clock.slept() == 0ms);  // moving to another node does not wait
  CHECK(c.client->currentAddress() == 2);
  c.node[2]->enqueue(200, R"({"data":{"k":"v"}})");
  REQUIRE(c.client->read("secret/x").ok());  // straight to the node that answered
  CHECK(c.node[2]->requests().size() == 2);
  CHECK(c.node[0]->requests().size() == 1);

  // A standby that redirects (307) instead of forwarding: next node.
  c.node[2]->enqueue(307, "");
  c.node[0]->enqueue(200, R"({"data":{"k":"v"}})");
  REQUIRE(c.client->read("secret/x").ok());
  CHECK(c.client->currentAddress() == 0);
}

TEST_CASE("after a full round of failures the client waits before the next round") {
  Cluster c(2, 5);
  c.node[0]->enqueueRefused();
  c.node[1]->enqueueRefused();
  c.node[0]->enqueueRefused();
  c.node[1]->enqueue(200, R"({"data":{}})");
  REQUIRE(c.client->read("secret/x").ok());
  CHECK(c.clock.slept() == 250ms);
}

TEST_CASE("non-idempotent requests are repeated only when they never left") {
  Cluster c(2);
  // A login whose connection broke after sending: the secret_id use may be spent.
  c.node[0]->enqueueFailure();
  auto lost = c.client->loginAppRole(secret("r"), secret("s"));
  REQUIRE_FALSE(lost.ok());
  CHECK(c.node[1]->requests().empty());
  // Connection refused: nothing was sent, so the next node may take it.
  c.node[1]->enqueueRefused();
  c.node[0]->enqueue(200, R"({"auth":{"client_token":"t2","lease_duration":60,"renewable":true}})");
  auto ok = c.client->loginAppRole(secret("r"), secret("s"));
  REQUIRE_MESSAGE(ok.ok(), ok.errorMessage());
  // A write that got a 503 is not repeated either.
  c.node[0]->enqueue(503, "{}");
  auto body = RequestBody().text("a", "b").build();
  REQUIRE(body.ok());
  CHECK_FALSE(c.client->write("kv/x", std::move(*body)).ok());
  CHECK(c.node[0]->requests().size() == 3);
}

TEST_CASE("wrapped secret_id: lookup checks the creation path, then unwraps once") {
  Cluster c(1);
  c.node[0]->enqueue(200, R"({"data":{"creation_path":"auth/approle/role/app/secret-id",
      "creation_ttl":60,"creation_time":"2026-11-22T00:00:00Z"}})");
  c.node[0]->enqueue(200, R"({"data":{"secret_id":"sid-1","secret_id_accessor":"acc"}})");
  auto got = c.client->unwrapSecretId(secret("wrap-tok"), "app");
  REQUIRE_MESSAGE(got.ok(), got.errorMessage());
  CHECK(text(*got) == "sid-1");
  const auto& r = c.node[0]->requests();
  CHECK(r[0].path == "/v1/sys/wrapping/lookup");
  CHECK(r[0].body == R"({"token":"wrap-tok"})");
  CHECK(r[0].token.empty());  // our own token is not shown to the lookup
  CHECK(r[1].path == "/v1/sys/wrapping/unwrap");
  CHECK(r[1].token == "wrap-tok");
}

TEST_CASE("wrapped secret_id: its own TTL comes from the unwrapped answer (issue 14)") {
  struct Case {
    const char* field;  // the secret_id_ttl member of the answer, or "" for none
    long long expect;
  };
  const Case cases[] = {{R"(,"secret_id_ttl":86400)", 86400},
                        {R"(,"secret_id_ttl":0)", 0},
                        {"", 0},
                        {R"(,"secret_id_ttl":"soon")", 0},
                        {R"(,"secret_id_ttl":-5)", 0}};
  for (const auto& k : cases) {
    CAPTURE(k.field);
    Cluster c(1);
    c.node[0]->enqueue(200, R"({"data":{"creation_path":"auth/approle/role/app/secret-id"}})");
    c.node[0]->enqueue(200, std::string(R"({"data":{"secret_id":"sid-1")") + k.field + "}}");
    std::chrono::seconds ttl{-1};
    auto got = c.client->unwrapSecretId(secret("wrap-tok"), "app", "approle", &ttl);
    REQUIRE_MESSAGE(got.ok(), got.errorMessage());
    CHECK(ttl.count() == k.expect);
  }
}

TEST_CASE("wrapped secret_id: a token wrapping another path is refused without unwrapping") {
  Cluster c(1);
  c.node[0]->enqueue(200, R"({"data":{"creation_path":"secret/data/attacker"}})");
  auto got = c.client->unwrapSecretId(secret("wrap-tok"), "app");
  REQUIRE_FALSE(got.ok());
  CHECK((got.error().kind == foundation::ErrorKind::Permanent));
  CHECK(got.error().message.find("not 'auth/approle/role/app/secret-id'") != std::string::npos);
  CHECK(got.error().message.find("wrap-tok") == std::string::npos);
  CHECK(c.node[0]->requests().size() == 1);
}

TEST_CASE("wrapped secret_id: an expired or used token gives a clear error") {
  Cluster c(1);
  c.node[0]->enqueue(400, R"({"errors":["wrapping token is not valid or does not exist"]})");
  auto got = c.client->unwrapSecretId(secret("wrap-tok"), "app");
  REQUIRE_FALSE(got.ok());
  CHECK(got.error().message.find("expired, was already used") != std::string::npos);
}

TEST_CASE("token lookup-self, renew-self and revoking a replaced token") {
  Cluster c(1);
  c.node[0]->enqueue(200, R"({"data":{"id":"tok","accessor":"acc","ttl":250,"creation_ttl":300,
      "explicit_max_ttl":0,"renewable":true,"expire_time":"2026-11-22T10:00:00Z","policies":["p"]}})");
  auto info = c.client->lookupSelf();
  REQUIRE_MESSAGE(info.ok(), info.errorMessage());
  CHECK(info->ttl == 250s);
  CHECK(info->creation_ttl == 300s);
  CHECK(info->renewable);
  CHECK(info->policies == std::vector<std::string>{"p"});

  c.node[0]->enqueue(200,
                     R"({"auth":{"client_token":"tok","lease_duration":120,"renewable":true}})");
  auto renewed = c.client->renewSelf(300s);
  REQUIRE(renewed.ok());
  CHECK(renewed->lease_duration == 120s);
  CHECK(c.node[0]->requests()[1].body == R"({"increment":300})");

  c.node[0]->enqueue(204, "");
  REQUIRE(c.client->revokeToken(secret("old-tok")).ok());
  CHECK(c.node[0]->requests()[2].token == "old-tok");
  CHECK(c.client->hasToken());
}

TEST_CASE("leases: renew with increment (path form), lookup") {
  Cluster c(1);
  c.node[0]->enqueue(200,
                     R"({"lease_id":"db/creds/app/abc","lease_duration":600,"renewable":true})");
  auto renewed = c.client->renewLease("db/creds/app/abc", 3600s);
  REQUIRE(renewed.ok());
  CHECK(renewed->ttl == 600s);
  CHECK(c.node[0]->requests()[0].path == "/v1/sys/leases/renew/db/creds/app/abc");
  CHECK(c.node[0]->requests()[0].body == R"({"increment":3600})");

  c.node[0]->enqueue(200, R"({"data":{"id":"db/creds/app/abc","ttl":599,"renewable":true,
      "issue_time":"2026-11-22T09:00:00Z","expire_time":"2026-11-22T09:10:00Z"}})");
  auto looked = c.client->lookupLease("db/creds/app/abc");
  REQUIRE(looked.ok());
  CHECK(looked->ttl == 599s);
  CHECK(looked->expire_time == "2026-11-22T09:10:00Z");
  CHECK(c.node[0]->requests()[1].body == R"({"lease_id":"db/creds/app/abc"})");
}

TEST_CASE("logical write with response wrapping, list and delete") {
  Cluster c(1);
  c.node[0]->enqueue(200, R"({"wrap_info":{"token":"w","accessor":"a","ttl":60,
      "creation_time":"t","creation_path":"auth/approle/role/app/secret-id"}})");
  auto body = RequestBody().text("metadata", "{}").build();
  REQUIRE(body.ok());
  auto wrapped = c.client->write("auth/approle/role/app/secret-id", std::move(*body), "60s");
  REQUIRE_MESSAGE(wrapped.ok(), wrapped.errorMessage());
  REQUIRE(wrapped->wrap_info.has_value());
  CHECK(text(wrapped->wrap_info->token) == "w");
  CHECK(wrapped->wrap_info->creation_path == "auth/approle/role/app/secret-id");
  CHECK(c.node[0]->requests()[0].wrap_ttl == "60s");

  c.node[0]->enqueue(200, R"({"data":{"keys":["a","b/"]}})");
  auto keys = c.client->list("secret/metadata");
  REQUIRE(keys.ok());
  CHECK(*keys == std::vector<std::string>{"a", "b/"});
  CHECK((c.node[0]->requests()[1].method == HttpMethod::List));
  c.node[0]->enqueue(404, R"({"errors":[]})");
  auto none = c.client->list("secret/metadata/empty");
  REQUIRE(none.ok());
  CHECK(none->empty());

  c.node[0]->enqueue(204, "");
  CHECK(c.client->remove("secret/data/x").ok());
  CHECK((c.node[0]->requests()[3].method == HttpMethod::Delete));
}

TEST_CASE("KV v2 read") {
  Cluster c(1);
  c.node[0]->enqueue(200, kKv);
  auto kv = c.client->readKv2("secret", "app/smtp", 3);
  REQUIRE_MESSAGE(kv.ok(), kv.errorMessage());
  CHECK(c.node[0]->requests()[0].path == "/v1/secret/data/app/smtp?version=3");
  CHECK(kv->version == 3);
  CHECK(kv->data.plainText("user") == "u");
  CHECK(kv->data.integer("port") == 2587);
  CHECK_FALSE(kv->deleted);
}

TEST_CASE("Transit encrypt, decrypt, sign, datakey") {
  Cluster c(1);
  c.node[0]->enqueue(200, R"({"data":{"ciphertext":"vault:v1:abc","key_version":1}})");
  auto ct = c.client->transitEncrypt("transit", "spool", secret("hello"));
  REQUIRE(ct.ok());
  CHECK(*ct == "vault:v1:abc");
  CHECK(c.node[0]->requests()[0].path == "/v1/transit/encrypt/spool");
  CHECK(c.node[0]->requests()[0].body == R"({"plaintext":"aGVsbG8="})");

  c.node[0]->enqueue(200, R"({"data":{"plaintext":"aGVsbG8="}})");
  auto pt = c.client->transitDecrypt("transit", "spool", "vault:v1:abc");
  REQUIRE(pt.ok());
  CHECK(text(*pt) == "hello");

  c.node[0]->enqueue(200, R"({"data":{"plaintext":"not base64!"}})");
  CHECK_FALSE(c.client->transitDecrypt("transit", "spool", "vault:v1:abc").ok());

  c.node[0]->enqueue(200, R"({"data":{"signature":"vault:v1:sig"}})");
  auto sig = c.client->transitSign("transit", "dkim", "abc");
  REQUIRE(sig.ok());
  CHECK(*sig == "vault:v1:sig");
  CHECK(c.node[0]->requests()[3].path == "/v1/transit/sign/dkim/sha2-256");
  CHECK(c.node[0]->requests()[3].body == R"({"input":"YWJj"})");

  c.node[0]->enqueue(200, R"({"data":{"plaintext":"AAECAw==","ciphertext":"vault:v1:dk"}})");
  auto dk = c.client->transitDataKey("transit", "spool");
  REQUIRE(dk.ok());
  CHECK(dk->plaintext.size() == 4);
  CHECK(dk->ciphertext == "vault:v1:dk");
  CHECK(c.node[0]->requests()[4].path == "/v1/transit/datakey/plaintext/spool");
}

TEST_CASE("sys/health reports states carried by non-2xx codes; sys/leader") {
  Cluster c(1);
  c.node[0]->enqueue(429, R"({"initialized":true,"sealed":false,"standby":true,
      "performance_standby":false,"version":"2.7.2","cluster_name":"c1"})");
  auto h = c.client->health();
  REQUIRE_MESSAGE(h.ok(), h.errorMessage());
  CHECK(h->http_status == 429);
  CHECK(h->standby);
  CHECK_FALSE(h->sealed);
  CHECK(h->version == "2.7.2");
  CHECK(c.node[0]->requests().size() == 1);

  c.node[0]->enqueue(200, R"({"ha_enabled":true,"is_self":false,
      "leader_address":"http://127.0.0.1:18300","leader_cluster_address":"https://127.0.0.1:18301"})");
  auto l = c.client->leader();
  REQUIRE(l.ok());
  CHECK(l->ha_enabled);
  CHECK(l->leader_address == "http://127.0.0.1:18300");
}
