// engine_test.cc: the SMTP engine's paths, leases and errors, against in-memory fakes.
// SECURITY: test-only; fake passwords in ordinary memory, no network, no real database.
// ERRORS: doctest assertions; every error path is checked for its kind and message.
#include "plugin/engine.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <string>

#include "engine_harness.h"
#include "plugin/request_fields.h"

using namespace smtpplugin;
using namespace smtpplugin::testing;

namespace {

// Password roles, on a server with both submission ports.
struct Harness : EngineHarness {
  void configure() { writeConfig(R"("smtp_port":587,"smtp_tls_port":465)"); }
};

Request leaseRequest(const std::string& op, const LeaseOut& lease, std::int64_t increment_s = 0) {
  Request r;
  r.operation = op;
  r.path = "creds/app";
  r.data_json = "null";
  LeaseIn in;
  in.internal_data = lease.internal_data;
  in.ttl_ns = lease.ttl_ns;
  in.max_ttl_ns = lease.max_ttl_ns;
  in.increment_ns = increment_s * kNanosPerSecond;
  in.issue_time_s = lease.issue_time_s;
  in.has_issue_time = true;
  r.secret = in;
  return r;
}

}  // namespace

TEST_CASE("config: write, read without the password, delete") {
  Harness h;
  h.configure();
  auto got = h.call("read", "config");
  REQUIRE(got.ok());
  CHECK(got->data_json.find("db-secret") == std::string::npos);
  CHECK(got->data_json.find("password\"") == std::string::npos);
  auto d = json(got->data_json);
  CHECK(std::string(d["username"].GetString()) == "vault_admin");
  CHECK(std::string(d["password_scheme"].GetString()) == "SSHA512");
  CHECK(d["smtp_port"].GetInt64() == 587);
  CHECK(std::string(d["tls_mode"].GetString()) == "starttls");
  // Stored (Vault encrypts storage): the password must be there for the engine.
  CHECK(h.storage.entries["config"].find("db-secret") != std::string::npos);

  // An update merges: the password is kept when not given again.
  REQUIRE(h.call("update", "config", R"({"smtp_port":2587})").ok());
  CHECK(h.storage.entries["config"].find("db-secret") != std::string::npos);
  CHECK(json(h.call("read", "config")->data_json)["smtp_port"].GetInt64() == 2587);

  REQUIRE(h.call("delete", "config").ok());
  auto after = h.call("read", "config");
  REQUIRE(after.ok());
  CHECK(after->none);
}

TEST_CASE("config: invalid input is refused with a clear message") {
  const struct {
    const char* name;
    const char* data;
    const char* want;
  } cases[] = {
      {"missing fields", R"({"connection_url":"host=x"})", "needs connection_url"},
      {"password in url",
       R"({"connection_url":"host=x password=y","username":"u","password":"p","smtp_host":"h"})",
       "must not contain password"},
      {"user in url",
       R"({"connection_url":"postgresql://u@x/mail","username":"u","password":"p","smtp_host":"h"})",
       "must not contain user"},
      {"bad scheme",
       R"({"connection_url":"host=x","username":"u","password":"p","smtp_host":"h","password_scheme":"PLAIN"})",
       "password_scheme"},
      {"bad tls mode",
       R"({"connection_url":"host=x","username":"u","password":"p","smtp_host":"h","tls_mode":"none"})",
       "tls_mode"},
      {"bad port",
       R"({"connection_url":"host=x","username":"u","password":"p","smtp_host":"h","smtp_port":70000})",
       "smtp_port"},
      {"unknown field", R"({"connection":"x"})", "unknown field 'connection'"},
      {"not an object", R"([1,2])", "JSON object"},
      {"wrong type", R"({"smtp_port":"many"})", "smtp_port"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      Harness h;
      auto got = h.call("update", "config", c.data);
      REQUIRE_FALSE(got.ok());
      CHECK((got.error().kind == foundation::ErrorKind::Permanent));
      CHECK_MESSAGE(got.error().message.find(c.want) != std::string::npos,
                    "got " << got.error().message << ", want " << c.want);
      CHECK(h.storage.entries.count("config") == 0);
    }
  }
}

TEST_CASE("config: an unreachable database is reported and nothing is stored") {
  Harness h;
  h.db.down = true;
  auto got = h.call(
      "update", "config",
      R"({"connection_url":"host=x","username":"u","password":"db-secret","smtp_host":"h"})");
  REQUIRE_FALSE(got.ok());
  CHECK((got.error().kind == foundation::ErrorKind::Temporary));
  CHECK(got.error().message.find("database connection") != std::string::npos);
  CHECK(h.storage.entries.count("config") == 0);
  // verify_connection=false stores it anyway.
  REQUIRE(
      h.call(
           "update", "config",
           R"({"connection_url":"host=x","username":"u","password":"db-secret","smtp_host":"h","verify_connection":false})")
          .ok());
}

TEST_CASE("roles: create, read, update merges, list, delete") {
  Harness h;
  h.role(
      "app",
      R"({"ttl":"5m","max_ttl":"1h","allowed_senders":"App@Example.test, *@lists.example.test","send_rate_per_minute":30})");
  auto got = h.call("read", "roles/app");
  REQUIRE(got.ok());
  auto d = json(got->data_json);
  CHECK(d["ttl"].GetInt64() == 300);
  CHECK(d["max_ttl"].GetInt64() == 3600);
  CHECK(d["allowed_senders"].Size() == 2);
  CHECK(std::string(d["username_template"].GetString()) == "smtp-{{role}}-{{random}}");
  CHECK(d["send_rate_per_minute"].GetInt64() == 30);

  h.role("app", R"({"ttl":600})");
  d = json(h.call("read", "roles/app")->data_json);
  CHECK(d["ttl"].GetInt64() == 600);
  CHECK(d["allowed_senders"].Size() == 2);

  h.role("other", R"({"allowed_senders":["x@example.test"]})");
  auto list = h.call("list", "roles/");
  REQUIRE(list.ok());
  CHECK(list->data_json == R"({"keys":["app","other"]})");

  REQUIRE(h.call("delete", "roles/app").ok());
  CHECK(h.call("read", "roles/app")->none);
}

TEST_CASE("roles: invalid input") {
  const struct {
    const char* name;
    const char* path;
    const char* data;
    const char* want;
  } cases[] = {
      {"no senders", "roles/a", R"({"ttl":60})", "allowed_senders is required"},
      {"bad sender", "roles/a", R"({"allowed_senders":"not-an-address"})", "allowed_senders"},
      {"sender injection", "roles/a", R"({"allowed_senders":"a'b@example.test"})",
       "allowed_senders"},
      {"ttl above max", "roles/a", R"({"allowed_senders":"a@b.test","ttl":"2h","max_ttl":"1h"})",
       "ttl must not exceed max_ttl"},
      {"bad duration", "roles/a", R"({"allowed_senders":"a@b.test","ttl":"5 minutes"})", "ttl"},
      {"negative duration", "roles/a", R"({"allowed_senders":"a@b.test","ttl":-5})", "ttl"},
      {"template without random", "roles/a",
       R"({"allowed_senders":"a@b.test","username_template":"fixed-{{role}}"})", "random"},
      {"template bad char", "roles/a",
       R"({"allowed_senders":"a@b.test","username_template":"X'{{random}}"})", "literal text"},
      {"bad role name", "roles/a%20b", R"({"allowed_senders":"a@b.test"})", "role names"},
      {"negative rate", "roles/a", R"({"allowed_senders":"a@b.test","send_rate_per_minute":-1})",
       "send_rate_per_minute"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      Harness h;
      auto got = h.call("update", c.path, c.data);
      REQUIRE_FALSE(got.ok());
      CHECK((got.error().kind == foundation::ErrorKind::Permanent));
      CHECK_MESSAGE(got.error().message.find(c.want) != std::string::npos,
                    "got " << got.error().message << ", want " << c.want);
    }
  }
}

TEST_CASE("creds: a login in the database and a renewable lease") {
  Harness h;
  h.configure();
  h.role(
      "app",
      R"({"ttl":"5m","max_ttl":"1h","allowed_senders":"app@example.test,*@lists.example.test","send_rate_per_minute":10})");
  auto got = h.call("read", "creds/app");
  REQUIRE(got.ok());
  auto d = json(got->data_json);
  const std::string username = d["username"].GetString();
  const std::string password = d["password"].GetString();
  CHECK(username.starts_with("smtp-app-"));
  CHECK(username.size() == std::string("smtp-app-").size() + 20);
  CHECK(password.size() == 43);  // 32 bytes, unpadded base64url
  CHECK(std::string(d["smtp_host"].GetString()) == "mail.test");
  CHECK(d["smtp_port"].GetInt64() == 587);
  CHECK(d["smtp_tls_port"].GetInt64() == 465);
  CHECK(std::string(d["tls_mode"].GetString()) == "starttls");
  CHECK(d["allowed_senders"].Size() == 2);
  CHECK(d["send_rate_per_minute"].GetInt64() == 10);

  REQUIRE(h.db.logins.count(username) == 1);
  const auto& row = h.db.logins[username];
  CHECK(row.hash.starts_with("{SSHA512}"));
  CHECK(row.hash.find(password) == std::string::npos);
  CHECK(row.expires_at == h.clock.now + 300);
  CHECK(row.senders == std::vector<std::string>{"app@example.test", "@lists.example.test"});

  REQUIRE(got->secret.has_value());
  CHECK(got->secret->ttl_ns == 300 * kNanosPerSecond);
  CHECK(got->secret->max_ttl_ns == 3600 * kNanosPerSecond);
  CHECK(got->secret->renewable);
  CHECK(got->secret->issue_time_s == h.clock.now);
  auto internal = json(got->secret->internal_data);
  CHECK(std::string(internal["secret_type"].GetString()) == "smtp_login");
  CHECK(std::string(internal["username"].GetString()) == username);
  CHECK(got->secret->internal_data.find(password) == std::string::npos);
}

TEST_CASE("creds: TTLs fall back to and are capped by the mount's") {
  Harness h;
  h.configure();
  h.system_view.default_ttl_s = 120;
  h.system_view.max_ttl_s = 600;
  h.role("app", R"({"allowed_senders":"a@b.test"})");
  auto got = h.call("read", "creds/app");
  REQUIRE(got.ok());
  CHECK(got->secret->ttl_ns == 120 * kNanosPerSecond);
  CHECK(got->secret->max_ttl_ns == 600 * kNanosPerSecond);
  h.role("app", R"({"ttl":"2h","max_ttl":"3h"})");
  got = h.call("read", "creds/app");
  REQUIRE(got.ok());
  CHECK(got->secret->ttl_ns == 600 * kNanosPerSecond);
}

TEST_CASE("creds: a username collision is retried with a new name") {
  Harness h;
  h.configure();
  h.role("app", R"({"allowed_senders":"a@b.test"})");
  // Predict the first name by running the same template on a copy of the random state.
  CountingRandom copy = h.random;
  auto first = h.call("read", "creds/app");
  REQUIRE(first.ok());
  const std::string name1 = json(first->data_json)["username"].GetString();
  h.random = copy;
  h.db.logins.clear();
  h.db.taken.insert(name1);
  auto second = h.call("read", "creds/app");
  REQUIRE(second.ok());
  CHECK(std::string(json(second->data_json)["username"].GetString()) != name1);
  CHECK(h.db.logins.size() == 1);
}

TEST_CASE("creds: errors") {
  Harness h;
  auto got = h.call("read", "creds/app");
  REQUIRE_FALSE(got.ok());
  CHECK(got.error().message.find("unknown role 'app'") != std::string::npos);
  h.role("app", R"({"allowed_senders":"a@b.test"})");
  got = h.call("read", "creds/app");
  REQUIRE_FALSE(got.ok());
  CHECK(got.error().message.find("not configured") != std::string::npos);
  h.configure();
  h.db.down = true;
  got = h.call("read", "creds/app");
  REQUIRE_FALSE(got.ok());
  CHECK((got.error().kind == foundation::ErrorKind::Temporary));
  h.db.down = false;
  h.storage.down = true;
  got = h.call("read", "creds/app");
  REQUIRE_FALSE(got.ok());
  CHECK((got.error().kind == foundation::ErrorKind::Temporary));
}

TEST_CASE("renew extends the login's expiry up to max_ttl") {
  Harness h;
  h.configure();
  h.role("app", R"({"ttl":"10m","max_ttl":"30m","allowed_senders":"a@b.test"})");
  auto issued = h.call("read", "creds/app");
  REQUIRE(issued.ok());
  const std::string username = json(issued->data_json)["username"].GetString();
  const LeaseOut lease = *issued->secret;

  h.clock.now += 300;
  auto renewed = h.engine.handle(leaseRequest("renew", lease));
  REQUIRE(renewed.ok());
  CHECK(renewed->data_json == "null");  // never echo the credentials
  REQUIRE(renewed->secret.has_value());
  CHECK(renewed->secret->ttl_ns == 600 * kNanosPerSecond);
  CHECK(renewed->secret->internal_data == lease.internal_data);
  CHECK(renewed->secret->issue_time_s == lease.issue_time_s);
  CHECK(h.db.logins[username].expires_at == h.clock.now + 600);

  // An increment is honoured, but capped at issue + max_ttl.
  h.clock.now = lease.issue_time_s + 1500;
  renewed = h.engine.handle(leaseRequest("renew", lease, 3600));
  REQUIRE(renewed.ok());
  CHECK(renewed->secret->ttl_ns == 300 * kNanosPerSecond);
  CHECK(h.db.logins[username].expires_at == lease.issue_time_s + 1800);

  h.clock.now = lease.issue_time_s + 1800;
  renewed = h.engine.handle(leaseRequest("renew", lease));
  REQUIRE_FALSE(renewed.ok());
  CHECK(renewed.error().message.find("max_ttl") != std::string::npos);

  // Login gone (deleted by hand): renew fails clearly.
  h.clock.now = lease.issue_time_s + 60;
  h.db.logins.clear();
  renewed = h.engine.handle(leaseRequest("renew", lease));
  REQUIRE_FALSE(renewed.ok());
  CHECK(renewed.error().message.find("no longer exists") != std::string::npos);
}

TEST_CASE("revoke deletes the login using only internal_data; already gone is success") {
  Harness h;
  h.configure();
  h.role("app", R"({"allowed_senders":"a@b.test"})");
  auto issued = h.call("read", "creds/app");
  REQUIRE(issued.ok());
  const LeaseOut lease = *issued->secret;
  REQUIRE(h.db.logins.size() == 1);

  // The role is deleted before revocation: revoke does not need it.
  REQUIRE(h.call("delete", "roles/app").ok());
  Request revoke = leaseRequest("revoke", lease);
  revoke.data_json = "null";  // lease data can be null after a renewal
  auto got = h.engine.handle(revoke);
  REQUIRE(got.ok());
  CHECK(h.db.logins.empty());
  got = h.engine.handle(revoke);
  CHECK(got.ok());

  // Database down: Temporary, so Vault retries instead of marking it irrevocable.
  h.db.down = true;
  got = h.engine.handle(revoke);
  REQUIRE_FALSE(got.ok());
  CHECK((got.error().kind == foundation::ErrorKind::Temporary));

  // Not our lease.
  h.db.down = false;
  LeaseOut foreign = lease;
  foreign.internal_data = R"({"secret_type":"other","username":"x"})";
  got = h.engine.handle(leaseRequest("revoke", foreign));
  REQUIRE_FALSE(got.ok());
  CHECK((got.error().kind == foundation::ErrorKind::Permanent));
}

TEST_CASE("rotate-root changes the database password and keeps only the new one") {
  Harness h;
  h.configure();
  h.role("app", R"({"allowed_senders":"a@b.test"})");
  REQUIRE(h.call("read", "creds/app").ok());
  REQUIRE(h.call("update", "config/rotate-root").ok());
  CHECK(h.db.password != "db-secret");
  CHECK(h.db.password.size() == 43);
  CHECK(h.storage.entries["config"].find("db-secret") == std::string::npos);
  CHECK(h.storage.entries["config"].find(h.db.password) != std::string::npos);
  // The engine still works with the new password.
  CHECK(h.call("read", "creds/app").ok());
  CHECK(h.call("read", "config")->data_json.find(h.db.password) == std::string::npos);
}

TEST_CASE("routing: help for every path, unsupported paths and operations") {
  Harness h;
  for (const char* path : {"", "config", "config/rotate-root", "roles/", "roles/x", "creds/x"}) {
    auto got = h.call("help", path);
    REQUIRE(got.ok());
    auto d = json(got->data_json);
    CHECK(std::string(d["help"].GetString()).size() > 10);
  }
  CHECK((h.call("read", "nothing-here")->refusal == Response::Refusal::UnsupportedPath));
  CHECK((h.call("delete", "creds/x")->refusal == Response::Refusal::UnsupportedOperation));
  CHECK((h.call("list", "config")->refusal == Response::Refusal::UnsupportedOperation));
  CHECK((h.call("read", "config/rotate-root")->refusal == Response::Refusal::UnsupportedOperation));
  auto rollback = h.call("rollback", "");
  REQUIRE(rollback.ok());
  CHECK(rollback->none);
}
