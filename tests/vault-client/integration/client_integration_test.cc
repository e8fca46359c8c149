// client_integration_test.cc: every vault::Client API against a real OpenBao server.
//
// Run by run-against-dev-servers, twice: a plain dev server and a -dev-tls one. Env:
// VAULT_ADDR, VAULT_CACERT (TLS), VAULT_TOKEN_FILE (the server's root token, used only
// to set up mounts, a policy and an AppRole role), and the stack's PostgreSQL
// (PG_HOST, PG_PORT, PG_DATABASE, PG_VAULT_ADMIN_PASSWORD_FILE) for the database
// engine, whose leases are renewable.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "kv_write.h"
#include "vault/client.h"

using namespace vault;
using namespace std::chrono_literals;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string fileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string text(const foundation::SecretBytes& s) {
  return s.reveal([](std::string_view v) { return std::string(v); });
}

std::unique_ptr<Client> newClient() {
  TransportOptions options;
  options.address = env("VAULT_ADDR");
  options.ca_file = env("VAULT_CACERT");
  auto transport = makeCurlTransport(options);
  REQUIRE_MESSAGE(transport.ok(), transport.errorMessage());
  return std::make_unique<Client>(std::move(*transport));
}

// Test setup JSON is plain test data (no production secret), so it may be a string.
void put(Client& c, const std::string& path, const std::string& json) {
  auto out = writeOnceKvIsUpgraded(c, path, json);
  REQUIRE_MESSAGE(out.ok(), path << ": " << out.errorMessage());
}

const char* kPolicy = R"(
path "database/creds/itest" { capabilities = ["read"] }
path "sys/leases/renew/database/creds/itest/*" { capabilities = ["update"] }
path "sys/leases/revoke/database/creds/itest/*" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "kv2/data/*" { capabilities = ["read"] }
path "transit/encrypt/spool" { capabilities = ["update"] }
path "transit/decrypt/spool" { capabilities = ["update"] }
path "transit/datakey/plaintext/spool" { capabilities = ["update"] }
path "transit/sign/dkim/*" { capabilities = ["update"] }
)";

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// The server is set up once per process.
struct Server {
  Server() {
    foundation::initSecretMemoryOrDie();
    root = newClient();
    root->setToken(
        foundation::SecretBytes::copyOf(std::string_view(fileText(env("VAULT_TOKEN_FILE")))));
    put(*root, "sys/auth/approle", R"({"type":"approle"})");
    put(*root, "sys/policies/acl/itest", "{\"policy\":" + jsonString(kPolicy) + "}");
    put(*root, "auth/approle/role/itest",
        R"({"token_policies":"itest","token_ttl":"60s","token_max_ttl":"90s","token_no_default_policy":true})");
    put(*root, "sys/mounts/kv2", R"({"type":"kv","options":{"version":"2"}})");
    put(*root, "sys/mounts/transit", R"({"type":"transit"})");
    put(*root, "transit/keys/spool", "{}");
    put(*root, "transit/keys/dkim", R"({"type":"ed25519"})");
    put(*root, "sys/mounts/database", R"({"type":"database"})");
    const std::string url = "postgresql://{{username}}:{{password}}@" + env("PG_HOST") + ":" +
                            env("PG_PORT") + "/" + env("PG_DATABASE") + "?sslmode=disable";
    put(*root, "database/config/pg",
        "{\"plugin_name\":\"postgresql-database-plugin\",\"connection_url\":" + jsonString(url) +
            ",\"username\":\"vault_admin\",\"password\":" +
            jsonString(fileText(env("PG_VAULT_ADMIN_PASSWORD_FILE"))) +
            ",\"password_authentication\":\"password\",\"allowed_roles\":\"itest\"}");
    put(*root, "database/roles/itest",
        R"({"db_name":"pg","default_ttl":"60s","max_ttl":"90s",
            "creation_statements":"INSERT INTO credentials (username, password, expires_at) VALUES ('{{name}}', '{PLAIN}x', extract(epoch FROM '{{expiration}}'::timestamptz)::bigint);",
            "renew_statements":"UPDATE credentials SET expires_at = extract(epoch FROM '{{expiration}}'::timestamptz)::bigint WHERE username = '{{name}}';",
            "revocation_statements":"DELETE FROM credentials WHERE username = '{{name}}';"})");
    put(*root, "database/config/pg",  // a template the mail schema accepts (lower case)
        R"({"username_template":"{{ printf \"itest-%s\" (random 20) | lowercase }}"})");
    auto read_role_id = root->read("auth/approle/role/itest/role-id");
    REQUIRE(read_role_id.ok());
    role_id = read_role_id->data.find("role_id")->clone();
  }

  // A fresh secret_id, response-wrapped, and the wrapping token.
  foundation::SecretBytes wrappedSecretId() {
    auto out = root->write("auth/approle/role/itest/secret-id",
                           foundation::SecretBytes::copyOf(std::string_view("{}")), "60s");
    REQUIRE_MESSAGE(out.ok(), out.errorMessage());
    REQUIRE(out->wrap_info.has_value());
    CHECK(out->wrap_info->creation_path == "auth/approle/role/itest/secret-id");
    return std::move(out->wrap_info->token);
  }

  // An AppRole-authenticated client (the way the sidecar logs in).
  std::unique_ptr<Client> appClient() {
    auto c = newClient();
    auto secret_id = c->unwrapSecretId(wrappedSecretId(), "itest");
    REQUIRE_MESSAGE(secret_id.ok(), secret_id.errorMessage());
    auto auth = c->loginAppRole(role_id, *secret_id);
    REQUIRE_MESSAGE(auth.ok(), auth.errorMessage());
    return c;
  }

  std::unique_ptr<Client> root;
  foundation::SecretBytes role_id;
};

Server& server() {
  static Server s;
  return s;
}

}  // namespace

TEST_CASE("sys/health and sys/leader") {
  auto h = server().root->health();
  REQUIRE_MESSAGE(h.ok(), h.errorMessage());
  CHECK(h->http_status == 200);
  CHECK(h->initialized);
  CHECK_FALSE(h->sealed);
  CHECK_FALSE(h->version.empty());
  auto l = server().root->leader();
  REQUIRE_MESSAGE(l.ok(), l.errorMessage());
}

TEST_CASE("wrapped secret_id: unwrap, log in; a reused token is refused clearly") {
  auto c = newClient();
  foundation::SecretBytes wrapping = server().wrappedSecretId();
  auto secret_id = c->unwrapSecretId(wrapping, "itest");
  REQUIRE_MESSAGE(secret_id.ok(), secret_id.errorMessage());
  auto auth = c->loginAppRole(server().role_id, *secret_id);
  REQUIRE_MESSAGE(auth.ok(), auth.errorMessage());
  CHECK(auth->policies == std::vector<std::string>{"itest"});

  auto again = newClient()->unwrapSecretId(wrapping, "itest");
  REQUIRE_FALSE(again.ok());
  CHECK((again.error().kind == foundation::ErrorKind::Permanent));
  CHECK(again.error().message.find("expired, was already used") != std::string::npos);
}

TEST_CASE("wrapped secret_id: a token wrapping another path is refused and stays unused") {
  // Anyone with a token can wrap arbitrary data: the forgery the creation-path check stops.
  auto forged = server().root->write(
      "sys/wrapping/wrap",
      foundation::SecretBytes::copyOf(std::string_view(R"({"secret_id":"evil"})")), "60s");
  REQUIRE_MESSAGE(forged.ok(), forged.errorMessage());
  REQUIRE(forged->wrap_info.has_value());
  auto got = newClient()->unwrapSecretId(forged->wrap_info->token, "itest");
  REQUIRE_FALSE(got.ok());
  CHECK(got.error().message.find("refused: the token wraps 'sys/wrapping/wrap'") !=
        std::string::npos);
  // Not unwrapped: its owner can still look it up.
  auto lookup = server().root->write(
      "sys/wrapping/lookup", foundation::SecretBytes::copyOf(std::string_view(
                                 "{\"token\":\"" + text(forged->wrap_info->token) + "\"}")));
  CHECK(lookup.ok());
}

TEST_CASE("a wrong secret_id is a permanent login error with Vault's reason") {
  auto c = newClient();
  auto auth =
      c->loginAppRole(server().role_id, foundation::SecretBytes::copyOf(std::string_view("nope")));
  REQUIRE_FALSE(auth.ok());
  CHECK((auth.error().kind == foundation::ErrorKind::Permanent));
  CHECK(auth.error().message.find("approle login: HTTP 400") == 0);
}

TEST_CASE("token lookup-self, renew-self, revoke-self") {
  auto c = server().appClient();
  auto info = c->lookupSelf();
  REQUIRE_MESSAGE(info.ok(), info.errorMessage());
  CHECK(info->renewable);
  CHECK(info->ttl > 0s);
  CHECK(info->ttl <= 60s);
  auto renewed = c->renewSelf(60s);
  REQUIRE_MESSAGE(renewed.ok(), renewed.errorMessage());
  CHECK(renewed->lease_duration <= 60s);
  CHECK(renewed->lease_duration > 50s);
  auto beyond = c->renewSelf(3600s);  // capped by token_max_ttl (90 s)
  REQUIRE(beyond.ok());
  CHECK(beyond->lease_duration <= 90s);
  REQUIRE(c->revokeSelf().ok());
  CHECK_FALSE(c->hasToken());
}

TEST_CASE("leases: read a renewable credential, renew, lookup, revoke") {
  auto c = server().appClient();
  auto creds = c->read("database/creds/itest");
  REQUIRE_MESSAGE(creds.ok(), creds.errorMessage());
  CHECK(creds->renewable);
  CHECK(creds->lease_id.rfind("database/creds/itest/", 0) == 0);
  CHECK(text(*creds->data.find("username")).rfind("itest-", 0) == 0);
  auto renewed = c->renewLease(creds->lease_id, 60s);
  REQUIRE_MESSAGE(renewed.ok(), renewed.errorMessage());
  CHECK(renewed->ttl > 0s);
  CHECK(renewed->renewable);
  auto looked = c->lookupLease(creds->lease_id);
  REQUIRE_MESSAGE(looked.ok(), looked.errorMessage());
  CHECK(looked->lease_id == creds->lease_id);
  CHECK_FALSE(looked->expire_time.empty());
  REQUIRE(c->revokeLease(creds->lease_id).ok());
  auto gone = c->renewLease(creds->lease_id, 60s);
  REQUIRE_FALSE(gone.ok());
  CHECK((gone.error().kind == foundation::ErrorKind::Permanent));
  // The policy scopes renewal to this role's leases.
  auto other = c->renewLease("database/creds/other/abc", 60s);
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().message.find("HTTP 403") != std::string::npos);
}

TEST_CASE("logical write/read/list/delete, and a response-wrapped read") {
  Client& root = *server().root;
  put(root, "kv2/data/app/smtp", R"({"data":{"user":"u1","port":2587}})");
  put(root, "kv2/data/app/other", R"({"data":{"x":"y"}})");
  auto keys = root.list("kv2/metadata/app");
  REQUIRE_MESSAGE(keys.ok(), keys.errorMessage());
  CHECK(*keys == std::vector<std::string>{"other", "smtp"});
  auto none = root.list("kv2/metadata/nothing-here");
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto wrapped = root.read("kv2/data/app/smtp", "30s");
  REQUIRE(wrapped.ok());
  REQUIRE(wrapped->wrap_info.has_value());
  CHECK(wrapped->wrap_info->ttl == 30s);
  CHECK(wrapped->data.size() == 0);
  REQUIRE(root.remove("kv2/metadata/app/other").ok());
  auto after = root.list("kv2/metadata/app");
  REQUIRE(after.ok());
  CHECK(*after == std::vector<std::string>{"smtp"});
  auto missing = root.read("kv2/data/app/other");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("HTTP 404") != std::string::npos);
}

TEST_CASE("KV v2 read by version, with the app's policy") {
  Client& root = *server().root;
  put(root, "kv2/data/app/versioned", R"({"data":{"v":"one"}})");
  put(root, "kv2/data/app/versioned", R"({"data":{"v":"two"}})");
  auto c = server().appClient();
  auto latest = c->readKv2("kv2", "app/versioned");
  REQUIRE_MESSAGE(latest.ok(), latest.errorMessage());
  CHECK(latest->version == 2);
  CHECK(latest->data.plainText("v") == "two");
  auto first = c->readKv2("kv2", "app/versioned", 1);
  REQUIRE(first.ok());
  CHECK(first->data.plainText("v") == "one");
}

TEST_CASE("Transit: encrypt/decrypt round trip, datakey, sign") {
  auto c = server().appClient();
  const std::string_view message("spooled message \0 with a NUL", 28);
  auto ciphertext = c->transitEncrypt("transit", "spool", foundation::SecretBytes::copyOf(message));
  REQUIRE_MESSAGE(ciphertext.ok(), ciphertext.errorMessage());
  CHECK(ciphertext->rfind("vault:v1:", 0) == 0);
  auto plaintext = c->transitDecrypt("transit", "spool", *ciphertext);
  REQUIRE_MESSAGE(plaintext.ok(), plaintext.errorMessage());
  CHECK(plaintext->equals(message));

  auto key = c->transitDataKey("transit", "spool", 256);
  REQUIRE_MESSAGE(key.ok(), key.errorMessage());
  CHECK(key->plaintext.size() == 32);
  auto unwrapped = c->transitDecrypt("transit", "spool", key->ciphertext);
  REQUIRE(unwrapped.ok());
  CHECK(unwrapped->equals(key->plaintext));

  auto signature = c->transitSign("transit", "dkim", "v=1; a=ed25519-sha256; ...", "sha2-256");
  REQUIRE_MESSAGE(signature.ok(), signature.errorMessage());
  CHECK(signature->rfind("vault:v1:", 0) == 0);
  auto denied = c->transitEncrypt("transit", "other-key",
                                  foundation::SecretBytes::copyOf(std::string_view("x")));
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.error().message.find("HTTP 403") != std::string::npos);
}
