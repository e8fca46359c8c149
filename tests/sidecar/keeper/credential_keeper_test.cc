// credential_keeper_test.cc: the credential lifecycle over hours of fake time: lease
// renewal, rotation before the lease's and the token's max TTL with overlap, Vault
// outages, re-authentication, refusal by the SMTP server, wrapped secret_id.
#include "sidecar/keeper/credential_keeper.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "keeper_test_support.h"
#include "sidecar/keeper/vault_call_thread.h"
#include "vault-client/fake_transport.h"

using namespace sidecar;
using namespace std::chrono_literals;

namespace {

// A Vault that answers by path, with leases and tokens whose TTLs the test sets.
class ScriptedVault final : public vault::HttpTransport {
 public:
  bool down = false;
  std::int64_t token_ttl = 300;
  std::int64_t token_renew_grant = 300;  // less than asked: the token's max TTL is near
  std::int64_t lease_ttl = 3600;
  std::int64_t lease_renew_grant = 3600;
  bool token_valid = true;
  bool web_down = false;
  std::int64_t web_lease_ttl = 600;
  int leases_issued = 0;
  int logins = 0;
  int kv_reads = 0;
  long login_status = 200;       // 400: the secret_id refused; 403: OpenBao's user lockout
  std::string last_secret_id;    // test data: which secret_id the last login used
  bool leasing_fails = false;    // creds reads answer 500 (the plugin's database is down)
  std::vector<std::string> log;  // "METHOD path token"

  // A Vault that accepts the request and does not answer (SIGSTOP) until released:
  // only where a real OpenBao cannot be made to hang at one exact request in a unit test.
  void hangNext() {
    std::lock_guard lock(gate_);
    hang_ = true;
  }
  void release() {
    {
      std::lock_guard lock(gate_);
      hang_ = false;
    }
    released_.notify_all();
  }
  bool hanging() {
    std::lock_guard lock(gate_);
    return hung_;
  }

  foundation::Result<vault::HttpResponse> send(const vault::HttpRequest& r) override {
    {
      std::unique_lock lock(gate_);
      if (hang_) {
        hung_ = true;
        released_.wait(lock, [&] { return !hang_; });
        hung_ = false;
      }
    }
    const std::string token = r.token ? keeper_test::revealed(*r.token) : std::string();
    log.push_back(r.path + " " + token);
    if (down) return foundation::Error::notSent("connection refused");
    if (r.path == "/v1/auth/approle/login") {
      const std::string body = keeper_test::revealed(r.body);
      const auto at = body.find("\"secret_id\":\"");
      last_secret_id =
          at == std::string::npos ? "" : body.substr(at + 13, body.find('"', at + 13) - at - 13);
      if (login_status == 400) return answer(400, R"({"errors":["invalid role or secret ID"]})");
      if (login_status == 403) return answer(403, R"({"errors":["permission denied"]})");
      ++logins;
      token_valid = true;
      return answer(200, R"({"auth":{"client_token":"tok-)" + std::to_string(logins) +
                             R"(","lease_duration":)" + std::to_string(token_ttl) +
                             R"(,"renewable":true}})");
    }
    if (r.path == "/v1/sys/wrapping/lookup") {
      return answer(200, R"({"data":{"creation_path":"auth/approle/role/app/secret-id"}})");
    }
    if (r.path == "/v1/sys/wrapping/unwrap") {
      return answer(200, R"({"data":{"secret_id":"unwrapped-sid"}})");
    }
    if (!token_valid) return answer(403, R"({"errors":["permission denied"]})");
    if (r.path == "/v1/auth/token/lookup-self") {
      return answer(200,
                    R"({"data":{"accessor":"a","ttl":100,"creation_ttl":300,)"
                    R"("explicit_max_ttl":0,"renewable":true,"expire_time":"2030-01-01T00:00:00Z",)"
                    R"("policies":["app"]}})");
    }
    if (r.path == "/v1/auth/token/renew-self") {
      return answer(200, R"({"auth":{"client_token":"x","lease_duration":)" +
                             std::to_string(token_renew_grant) + R"(,"renewable":true}})");
    }
    if (r.path.rfind("/v1/database/creds/app", 0) == 0) {
      if (leasing_fails) return answer(500, R"({"errors":["database unavailable"]})");
      ++leases_issued;
      return answer(200, R"({"lease_id":"database/creds/app/L)" + std::to_string(leases_issued) +
                             R"(","lease_duration":)" + std::to_string(lease_ttl) +
                             R"(,"renewable":true,"data":{"username":"u)" +
                             std::to_string(leases_issued) + R"(","password":"p"}})");
    }
    if (r.path == "/v1/smtp/creds/denied")
      return answer(403, R"({"errors":["permission denied"]})");
    if (r.path == "/v1/smtp/creds/web") {  // a second credential path (profiles)
      ++leases_issued;
      if (web_down) return answer(503, R"({"errors":["unavailable"]})");
      return answer(200, R"({"lease_id":"smtp/creds/web/W)" + std::to_string(leases_issued) +
                             R"(","lease_duration":)" + std::to_string(web_lease_ttl) +
                             R"(,"renewable":true,"data":{"username":"w)" +
                             std::to_string(leases_issued) + R"(","password":"p"}})");
    }
    if (r.path == "/v1/aws/creds/ses") {  // Vault's AWS engine, credential_type iam_user
      ++leases_issued;
      return answer(200, R"({"lease_id":"aws/creds/ses/A)" + std::to_string(leases_issued) +
                             R"(","lease_duration":)" + std::to_string(lease_ttl) +
                             R"(,"renewable":true,"data":{"access_key":"AKIAEXAMPLE)" +
                             std::to_string(leases_issued) +
                             R"(","secret_key":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",)"
                             R"("security_token":null}})");
    }
    if (r.path == "/v1/secret/data/smtp-oauth/app") {  // an OAuth2 client's secret (KV v2)
      ++kv_reads;
      return answer(200, R"({"data":{"data":{"client_secret":"s3cret-of-the-client"},)"
                         R"("metadata":{"version":1}}})");
    }
    if (r.path.rfind("/v1/sys/leases/renew/", 0) == 0) {
      return answer(200, R"({"lease_id":")" + r.path.substr(21) + R"(","lease_duration":)" +
                             std::to_string(lease_renew_grant) + R"(,"renewable":true})");
    }
    if (r.path.rfind("/v1/sys/leases/revoke/", 0) == 0 || r.path == "/v1/auth/token/revoke-self") {
      return answer(204, "");
    }
    return answer(404, R"({"errors":["no handler"]})");
  }

  int count(const std::string& prefix) const {
    int n = 0;
    for (const auto& line : log) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }

 private:
  static vault::HttpResponse answer(long status, const std::string& body) {
    return keeper_test::vaultAnswer(status, body);
  }
  std::mutex gate_;
  std::condition_variable released_;
  bool hang_ = false;
  bool hung_ = false;
};

struct Fixture : keeper_test::AppRoleFiles {
  Fixture() {
    auto t = std::make_unique<ScriptedVault>();
    vault = t.get();
    client = keeper_test::scriptedClient(std::move(t), clock);
  }
  CredentialKeeper& keeper() {
    if (!keeper_) {
      keeper_ = std::make_unique<CredentialKeeper>(
          settings, *client, clock, [] { return 0.0; }, paths);
    }
    return *keeper_;
  }
  // Runs the keeper as its loop does, until `until`, jumping to each due time.
  CredentialKeeper::Changes runFor(std::chrono::seconds span) {
    CredentialKeeper::Changes all;
    const auto end = clock.now() + span;
    while (clock.now() < end) {
      CredentialKeeper::Changes changes;
      const auto next = keeper().tick(changes);
      all.credential_changed = all.credential_changed || changes.credential_changed;
      for (auto& l : changes.retired_leases) all.retired_leases.push_back(l);
      const auto step = std::min(next, end) - clock.now();
      clock.advance(std::max(std::chrono::duration_cast<std::chrono::milliseconds>(step), 1ms));
    }
    return all;
  }
  std::string username(std::size_t index = 0) {
    std::string out;
    keeper().withCredential(
        index, [&](const ipc::SmtpCredential& c) { out = keeper_test::revealed(c.username); });
    return out;
  }

  fakes::FakeClock clock;
  ScriptedVault* vault;
  std::unique_ptr<vault::Client> client;
  std::vector<std::string> paths;  // empty: settings.credential_path
  std::unique_ptr<CredentialKeeper> keeper_;
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "start logs in and leases; renewals keep one credential for hours") {
  REQUIRE(keeper().start().ok());
  CHECK(keeper().ready());
  CHECK(username() == "u1");
  auto changes = runFor(6h);
  CHECK(vault->leases_issued == 1);  // the same credential all along
  CHECK(username() == "u1");
  // Lease (1h) renewed about every 40 minutes; token (5m) about every 200 s.
  CHECK(vault->count("/v1/sys/leases/renew/database/creds/app/L1") ==
        8);  // at 2400 s, 4800 s, ... 19200 s
  CHECK(vault->count("/v1/auth/token/renew-self") == 107);
  CHECK(changes.retired_leases.empty());
  CHECK(vault->logins == 1);
  // The figures the keeper reports for /metrics.
  CHECK(keeper().stats().logins == 1);
  CHECK(keeper().stats().lease_renewals == 8);
  CHECK(keeper().stats().token_renewals == 107);
  CHECK(keeper().stats().lease_renewal_failures == 0);
  CHECK(keeper().stats().rotations.empty());
  CHECK(keeper().leasesActive() == 1);
}

TEST_CASE_FIXTURE(Fixture, "lease max TTL near: rotate with overlap, then revoke the old lease") {
  REQUIRE(keeper().start().ok());
  vault->lease_renew_grant = 1000;  // less than the 3600 asked: max TTL near
  runFor(2400s);                    // the renewal at 2400 s grants 1000 s
  auto changes = runFor(1s);
  CHECK(username() == "u2");              // the new credential serves new sends at once
  CHECK(changes.retired_leases.empty());  // the old one still serves sends in flight
  CHECK(keeper().leasesActive() == 2);
  CHECK(keeper().stats().rotations.at("max_ttl") == 1);
  changes = runFor(31s);
  CHECK(keeper().leasesActive() == 1);
  REQUIRE(changes.retired_leases.size() == 1);
  CHECK(changes.retired_leases[0] == "database/creds/app/L1");
  CHECK(vault->count("/v1/sys/leases/revoke/database/creds/app/L1") == 1);
  CHECK(vault->logins == 1);
}

TEST_CASE_FIXTURE(
    Fixture, "token max TTL near: log in again, lease under the new token, revoke the old ones") {
  REQUIRE(keeper().start().ok());
  vault->token_renew_grant = 100;  // 300 asked, 100 granted
  runFor(201s);
  CHECK(vault->logins == 2);
  CHECK(keeper().stats().logins == 2);
  CHECK(keeper().stats().rotations.at("token_max_ttl") == 1);
  CHECK(username() == "u2");  // the old lease was a child of the old token
  auto changes = runFor(40s);
  REQUIRE(changes.retired_leases.size() == 1);
  CHECK(vault->count("/v1/sys/leases/revoke/database/creds/app/L1") == 1);
  CHECK(vault->count("/v1/auth/token/revoke-self tok-1") == 1);  // the old token, with itself
  CHECK(vault->count("/v1/auth/token/revoke-self tok-2") == 0);
}

TEST_CASE_FIXTURE(Fixture,
                  "Vault unreachable: the credential is used until it expires, then recovered") {
  vault->lease_ttl = 600;
  vault->lease_renew_grant = 600;
  REQUIRE(keeper().start().ok());
  vault->down = true;
  runFor(590s);
  CHECK(keeper().ready());  // renewal failing since 400 s, the credential still valid
  CHECK(keeper().stats().lease_renewal_failures > 0);
  CHECK(keeper().stats().token_renewal_failures > 0);
  CHECK(username() == "u1");
  auto changes = runFor(20s);
  CHECK_FALSE(keeper().ready());  // expired: never hand out a dead credential
  CHECK(changes.credential_changed);
  vault->down = false;
  vault->token_valid = false;  // the token expired meanwhile
  runFor(120s);
  CHECK(keeper().ready());
  CHECK(vault->logins == 2);
  CHECK(username() == "u2");
}

TEST_CASE_FIXTURE(Fixture, "a short outage only delays renewal") {
  REQUIRE(keeper().start().ok());
  runFor(2399s);
  vault->down = true;
  runFor(60s);
  vault->down = false;
  runFor(60s);
  CHECK(username() == "u1");
  CHECK(vault->leases_issued == 1);
  CHECK(vault->count("/v1/sys/leases/renew/") >= 2);
}

TEST_CASE_FIXTURE(Fixture,
                  "a credential refused by the SMTP server is replaced and revoked at once") {
  REQUIRE(keeper().start().ok());
  CredentialKeeper::Changes changes;
  keeper().credentialRefused("database/creds/app/L1", changes);
  CHECK(username() == "u2");
  REQUIRE(changes.retired_leases.size() == 1);
  CHECK(changes.retired_leases[0] == "database/creds/app/L1");
  CredentialKeeper::Changes again;
  keeper().credentialRefused("database/creds/app/L1", again);  // a late duplicate
  CHECK(vault->leases_issued == 2);
  CHECK(keeper().stats().rotations.at("refused") == 1);
}

TEST_CASE_FIXTURE(Fixture, "a wrapped secret_id is unwrapped once and its file removed") {
  settings.secret_id_wrapped = true;
  settings.approle_role = "app";
  settings.remove_secret_id_file = true;
  REQUIRE(keeper().start().ok());
  CHECK(::access(secret_id.path.c_str(), F_OK) != 0);
  CHECK(vault->count("/v1/sys/wrapping/unwrap") == 1);
  // Re-authentication uses the unwrapped secret_id kept in locked memory.
  vault->token_renew_grant = 100;
  runFor(201s);
  CHECK(vault->logins == 2);
  CHECK(vault->count("/v1/sys/wrapping/unwrap") == 1);
}

TEST_CASE_FIXTURE(Fixture, "revokeAll revokes the current and retiring leases, then the tokens") {
  REQUIRE(keeper().start().ok());
  vault->token_renew_grant = 100;
  runFor(201s);  // now L1 retiring, tok-1 waiting
  REQUIRE(keeper().revokeAll().ok());
  CHECK(vault->count("/v1/sys/leases/revoke/database/creds/app/L1") == 1);
  CHECK(vault->count("/v1/sys/leases/revoke/database/creds/app/L2") == 1);
  CHECK(vault->count("/v1/auth/token/revoke-self tok-2") == 1);
  CHECK(vault->count("/v1/auth/token/revoke-self tok-1") == 1);
  CHECK_FALSE(keeper().ready());
}

TEST_CASE_FIXTURE(Fixture,
                  "a reloaded credential path rotates at once; other Vault keys need a restart") {
  REQUIRE(keeper().start().ok());
  VaultSettings fresh = settings;
  fresh.credential_path = "database/creds/app";  // same path, new grace
  fresh.rotation_grace = 5s;
  fresh.address = "http://127.0.0.1:2";
  auto restart = keeper().reconfigure(fresh);
  CHECK(restart == std::vector<std::string>{"vault.address"});
  CHECK(vault->leases_issued == 1);
  fresh.credential_path = "database/creds/app?moved";  // a different path (same fake answer)
  (void)keeper().reconfigure(fresh);
  runFor(1s);
  CHECK(vault->leases_issued == 2);
  CHECK(username() == "u2");
  auto changes = runFor(6s);  // the new grace
  CHECK(changes.retired_leases == std::vector<std::string>{"database/creds/app/L1"});
}

TEST_CASE_FIXTURE(Fixture, "one lease per credential path, each renewed and rotated on its own") {
  paths = {"database/creds/app", "smtp/creds/web"};
  REQUIRE(keeper().start().ok());
  CHECK(keeper().ready());
  CHECK(keeper().pathCount() == 2);
  CHECK(keeper().path(1) == "smtp/creds/web");
  CHECK(username(0) == "u1");
  CHECK(username(1) == "w2");
  std::string path_of_1;
  keeper().withCredential(1, [&](const ipc::SmtpCredential& c) { path_of_1 = c.credential_path; });
  CHECK(path_of_1 == "smtp/creds/web");
  CHECK_FALSE(keeper().withCredential(2, [](const ipc::SmtpCredential&) {}));
  // The web lease (600 s) is renewed at 400 s; the app lease (3600 s) not yet.
  runFor(401s);
  CHECK(vault->count("/v1/sys/leases/renew/smtp/creds/web/W2") == 1);
  CHECK(vault->count("/v1/sys/leases/renew/database/creds/app/L1") == 0);
  CHECK(vault->logins == 1);  // one token for both
  // The web credential is refused: only it is replaced.
  CredentialKeeper::Changes changes;
  keeper().credentialRefused("smtp/creds/web/W2", changes);
  CHECK(username(0) == "u1");
  CHECK(username(1) == "w3");
  CHECK(changes.retired_leases == std::vector<std::string>{"smtp/creds/web/W2"});
  CHECK(keeper().secondsToExpiry() > 0);
  REQUIRE(keeper().revokeAll().ok());
  CHECK(vault->count("/v1/sys/leases/revoke/database/creds/app/L1") == 1);
  CHECK(vault->count("/v1/sys/leases/revoke/smtp/creds/web/W3") == 1);
}

TEST_CASE_FIXTURE(Fixture, "ready only when every path has a credential") {
  paths = {"database/creds/app", "smtp/creds/web"};
  vault->web_down = true;
  CHECK_FALSE(keeper().start().ok());
  CHECK_FALSE(keeper().ready());
  CHECK(username(0) == "u1");  // the first path is served meanwhile
  vault->web_down = false;
  runFor(5s);  // the lease is retried with backoff
  CHECK(keeper().ready());
  CHECK(username(1).rfind("w", 0) == 0);
}

TEST_CASE_FIXTURE(Fixture,
                  "reload: a new path is leased, a dropped path is retired after the grace") {
  REQUIRE(keeper().start().ok());
  auto restart = keeper().reconfigure(settings, {"smtp/creds/web", "database/creds/app"});
  CHECK(restart.empty());
  CHECK_FALSE(keeper().ready());  // the new path has no lease yet
  CHECK(username(1) == "u1");     // the kept path keeps its lease, at its new index
  runFor(1s);
  CHECK(keeper().ready());
  CHECK(username(0) == "w2");
  (void)keeper().reconfigure(settings, {"smtp/creds/web"});
  CHECK(keeper().ready());
  auto changes = runFor(31s);
  CHECK(changes.retired_leases == std::vector<std::string>{"database/creds/app/L1"});
  CHECK(vault->count("/v1/sys/leases/revoke/database/creds/app/L1") == 1);
  CHECK(vault->leases_issued == 2);
}

TEST_CASE_FIXTURE(Fixture,
                  "an IAM key becomes the SES SMTP login, first used after IAM propagation") {
  settings.credential_path = "aws/creds/ses";
  settings.ses_region = "eu-west-1";
  settings.ses_propagation = 15s;
  REQUIRE(keeper().start().ok());
  CHECK_FALSE(keeper().ready());  // leased, but IAM may not know the key yet
  CHECK(username().empty());
  const auto changes = runFor(16s);   // the tick at 15 s
  CHECK(changes.credential_changed);  // the worker hears that it may send now
  CHECK(keeper().ready());
  CHECK(username() == "AKIAEXAMPLE1");
  // check_ses_smtp_password.py's independent derivation of this key for eu-west-1,
  // compared in locked memory (no std::string copy of the password).
  bool derived = false;
  keeper().withCredential(0, [&](const ipc::SmtpCredential& c) {
    derived = c.password.equals("BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk");
  });
  CHECK(derived);
}

TEST_CASE_FIXTURE(Fixture, "SES rotation: the old login serves until the new key has propagated") {
  settings.credential_path = "aws/creds/ses";
  settings.ses_region = "eu-west-1";
  settings.ses_propagation = 15s;
  REQUIRE(keeper().start().ok());
  runFor(15s);
  vault->lease_renew_grant = 1000;  // max TTL near: the renewal at 2400 s asks to replace
  runFor(2385s);                    // to t = 2400 s
  runFor(1s);
  CHECK(vault->leases_issued == 2);
  CHECK(username() == "AKIAEXAMPLE1");  // the new key is not used yet
  CHECK(keeper().ready());              // no gap: the old login still serves
  CHECK(keeper().leasesActive() == 2);  // both are held
  auto changes = runFor(15s);
  CHECK(username() == "AKIAEXAMPLE2");
  CHECK(changes.credential_changed);
  changes = runFor(31s);  // the old lease goes after the rotation grace
  REQUIRE(changes.retired_leases.size() == 1);
  CHECK(changes.retired_leases[0] == "aws/creds/ses/A1");
  REQUIRE(keeper().revokeAll().ok());
  CHECK(vault->count("/v1/sys/leases/revoke/aws/creds/ses/A2") == 1);
}

TEST_CASE_FIXTURE(Fixture, "an IAM key without vault.ses_region is refused and its lease revoked") {
  settings.credential_path = "aws/creds/ses";
  auto started = keeper().start();
  REQUIRE_FALSE(started.ok());
  CHECK(started.errorMessage().find("set vault.ses_region") != std::string::npos);
  CHECK(vault->count("/v1/sys/leases/revoke/aws/creds/ses/A1") == 1);
}

// ---- OAuth2 credential paths (credential_keeper_oauth.cc) ----

namespace {

// A token endpoint on the fake clock: tokens "tok-<n>" of `expires_in` seconds.
struct ScriptedEndpoint {
  bool down = false;                                         // unreachable: Temporary
  keeper::TokenRefusal refuse = keeper::TokenRefusal::None;  // an error answer
  std::int64_t expires_in = 60;
  int requests = 0;
  int issued = 0;
  std::vector<bool> material_seen;  // the client secret from Vault reached the request
};

class ScriptedFetcher final : public keeper::TokenFetcher {
 public:
  explicit ScriptedFetcher(ScriptedEndpoint& e) : e_(e) {}
  foundation::Result<keeper::AccessToken> fetch(const foundation::SecretBytes& material,
                                                keeper::TokenRefusal* refusal) override {
    ++e_.requests;
    e_.material_seen.push_back(material.equals("s3cret-of-the-client"));
    if (refusal != nullptr) *refusal = keeper::TokenRefusal::None;
    if (e_.down) {
      if (refusal != nullptr) *refusal = keeper::TokenRefusal::Unavailable;
      return foundation::Error::temporary("token endpoint unreachable");
    }
    if (e_.refuse != keeper::TokenRefusal::None) {
      if (refusal != nullptr) *refusal = e_.refuse;
      return foundation::Error::permanent("token endpoint refused: invalid_client");
    }
    ++e_.issued;
    const std::string token = "tok-" + std::to_string(e_.issued);
    return keeper::AccessToken{foundation::SecretBytes::copyOf(std::string_view(token)),
                               std::chrono::seconds(e_.expires_in), "smtp"};
  }

 private:
  ScriptedEndpoint& e_;
};

struct OAuthFixture : Fixture {
  OAuthFixture() {
    settings.credential_path = "oauth2:hydra";
    client.name = "hydra";
    client.token_endpoint = "http://127.0.0.1:14444/oauth2/token";
    client.client_id = "example-app-oauth";
    client.scope = "smtp";
    client.kv_path = "smtp-oauth/app";
    client.kv_field = "client_secret";
    client.sasl_user = "app@example.test";
    client.refresh_margin = 30s;
  }
  CredentialKeeper& oauthKeeper() {
    if (!keeper_) {
      keeper().useOAuth2Clients({client}, [this](const keeper::TokenSourceSettings& s) {
        CHECK(s.client_id == "example-app-oauth");
        return foundation::Result<std::unique_ptr<keeper::TokenFetcher>>(
            std::make_unique<ScriptedFetcher>(endpoint));
      });
    }
    return keeper();
  }
  // The current token, its kind and id (empty when none).
  struct Seen {
    std::string token, user, id;
    ipc::CredentialKind kind = ipc::CredentialKind::Password;
  };
  Seen seen(std::size_t index = 0) {
    Seen out;
    keeper().withCredential(index, [&](const ipc::SmtpCredential& c) {
      out.token = keeper_test::revealed(c.password);
      out.user = keeper_test::revealed(c.username);
      out.id = c.lease_id;
      out.kind = c.kind;
    });
    return out;
  }
  OAuth2Client client;
  ScriptedEndpoint endpoint;
};

}  // namespace

TEST_CASE_FIXTURE(OAuthFixture, "an oauth2: path holds a token from the endpoint, not a lease") {
  REQUIRE(oauthKeeper().start().ok());
  CHECK(keeper().ready());
  const auto s = seen();
  CHECK(s.token == "tok-1");
  CHECK(s.user == "app@example.test");
  CHECK(s.id == "oauth2:hydra#1");
  CHECK((s.kind == ipc::CredentialKind::OAuth2Token));
  CHECK(vault->kv_reads == 1);  // the client secret came from Vault
  CHECK(endpoint.material_seen == std::vector<bool>{true});
  CHECK(vault->leases_issued == 0);
  CHECK(keeper().secondsToExpiry() == 60);
  CHECK(keeper().leasesActive() == 0);  // a token is not a Vault lease
}

TEST_CASE_FIXTURE(OAuthFixture, "tokens are refreshed before they expire: never a gap") {
  REQUIRE(oauthKeeper().start().ok());
  // 60 s tokens, margin 30 s: each is replaced at 30 s (half its life: the margin is
  // earlier than two thirds). Over 10 minutes, step by step, a token is always there.
  int gaps = 0;
  std::set<std::string> tokens;
  std::vector<std::string> retired;
  const auto end = clock.now() + 600s;
  while (clock.now() < end) {
    CredentialKeeper::Changes changes;
    const auto next = keeper().tick(changes);
    for (auto& id : changes.retired_leases) retired.push_back(id);
    const auto s = seen();
    if (s.token.empty()) ++gaps;
    tokens.insert(s.token);
    CHECK(keeper().secondsToExpiry() >= 29);  // refreshed with the margin left
    clock.advance(std::max(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::min(next, end) - clock.now()),
        1ms));
  }
  CHECK(gaps == 0);
  CHECK(endpoint.issued == 20);  // at 0, 30, 60, ... 570 s
  CHECK(tokens.size() == 20);
  CHECK(keeper().stats().rotations.at("oauth2_refresh") == 19);
  // Each old token's connections close after the rotation grace (30 s: those replaced
  // by 540 s); nothing goes to Vault.
  CHECK(retired.size() == 18);
  CHECK(retired.front() == "oauth2:hydra#1");
  CHECK(vault->count("/v1/sys/leases/") == 0);
  CHECK(vault->kv_reads == 20);  // the secret is read for each request, not kept
}

TEST_CASE_FIXTURE(OAuthFixture, "a margin beyond the token's life still lets it live a third") {
  client.refresh_margin = 300s;
  endpoint.expires_in = 60;
  REQUIRE(oauthKeeper().start().ok());
  runFor(61s);
  CHECK(endpoint.issued == 4);  // at 0, 20, 40, 60 s: not in a loop
}

TEST_CASE_FIXTURE(OAuthFixture, "endpoint down: the token serves until it expires, then recovery") {
  REQUIRE(oauthKeeper().start().ok());
  endpoint.down = true;
  runFor(59s);  // the refresh at 30 s and its retries fail
  CHECK(keeper().ready());
  CHECK(seen().token == "tok-1");
  CHECK(endpoint.requests > 2);
  const int requests = endpoint.requests;
  CHECK(requests < 12);  // with backoff, not in a loop
  auto changes = runFor(2s);
  CHECK_FALSE(keeper().ready());  // expired: never handed out
  CHECK(changes.credential_changed);
  CHECK(changes.retired_leases == std::vector<std::string>{"oauth2:hydra#1"});
  endpoint.down = false;
  runFor(20s);  // the retry backoff (at most 30 s) ...
  CHECK(keeper().ready());
  CHECK(seen().token == "tok-2");
}

TEST_CASE_FIXTURE(OAuthFixture, "a token refused by the SMTP server: one new token at once") {
  REQUIRE(oauthKeeper().start().ok());
  CredentialKeeper::Changes changes;
  keeper().credentialRefused("oauth2:hydra#1", changes);
  CHECK(endpoint.requests == 2);  // one refresh
  CHECK(seen().token == "tok-2");
  CHECK(seen().id == "oauth2:hydra#2");
  CHECK(changes.credential_changed);
  CHECK(changes.retired_leases == std::vector<std::string>{"oauth2:hydra#1"});
  // Late reports of the old token (other sends that used it) ask for nothing.
  for (int i = 0; i < 5; ++i) {
    CredentialKeeper::Changes again;
    keeper().credentialRefused("oauth2:hydra#1", again);
    CHECK_FALSE(again.credential_changed);
  }
  CHECK(endpoint.requests == 2);
  CHECK(keeper().stats().rotations.at("refused") == 1);
  CHECK(vault->count("/v1/sys/leases/") == 0);
}

TEST_CASE_FIXTURE(OAuthFixture, "refused, and the endpoint refuses too: no token, retried later") {
  REQUIRE(oauthKeeper().start().ok());
  endpoint.refuse = keeper::TokenRefusal::InvalidClient;  // the secret was rotated away
  CredentialKeeper::Changes changes;
  keeper().credentialRefused("oauth2:hydra#1", changes);
  CHECK(endpoint.requests == 2);
  CHECK_FALSE(keeper().ready());  // the refused token is not handed out again
  CHECK(changes.retired_leases == std::vector<std::string>{"oauth2:hydra#1"});
  runFor(10s);
  const int requests = endpoint.requests;
  CHECK(requests <= 6);  // backoff 1, 2, 4 s ...
  endpoint.refuse = keeper::TokenRefusal::None;
  runFor(40s);
  CHECK(keeper().ready());
}

TEST_CASE_FIXTURE(OAuthFixture, "a refusal at start is permanent; unreachable is temporary") {
  endpoint.refuse = keeper::TokenRefusal::InvalidClient;
  auto started = oauthKeeper().start();
  REQUIRE_FALSE(started.ok());
  CHECK((started.error().kind == foundation::ErrorKind::Permanent));
  CHECK(started.error().message.find("oauth2:hydra") != std::string::npos);
  endpoint.refuse = keeper::TokenRefusal::None;
  endpoint.down = true;
  started = keeper().start();
  REQUIRE_FALSE(started.ok());
  CHECK((started.error().kind == foundation::ErrorKind::Temporary));
  endpoint.down = false;
  REQUIRE(keeper().start().ok());
  CHECK(seen().token == "tok-1");
}

TEST_CASE_FIXTURE(OAuthFixture, "a path naming no [[oauth2]] client is a permanent error") {
  settings.credential_path = "oauth2:nobody";
  auto started = oauthKeeper().start();
  REQUIRE_FALSE(started.ok());
  CHECK((started.error().kind == foundation::ErrorKind::Permanent));
  CHECK(started.error().message.find("names no [[oauth2]] client \"nobody\"") != std::string::npos);
}

TEST_CASE_FIXTURE(OAuthFixture,
                  "the Vault token's re-login keeps the OAuth2 token; revokeAll "
                  "asks Vault for nothing about it") {
  paths = {"oauth2:hydra", "database/creds/app"};
  endpoint.expires_in = 3600;
  REQUIRE(oauthKeeper().start().ok());
  CHECK(seen(0).token == "tok-1");
  CHECK(seen(1).user == "u1");
  vault->token_renew_grant = 100;  // the Vault token's max TTL is near
  runFor(201s);
  CHECK(vault->logins == 2);
  CHECK(seen(0).token == "tok-1");  // untouched
  CHECK(seen(1).user == "u2");      // the lease was the old token's child
  CHECK(endpoint.requests == 1);
  REQUIRE(keeper().revokeAll().ok());
  CHECK(vault->count("/v1/sys/leases/revoke/oauth2") == 0);
  CHECK(vault->count("/v1/sys/leases/revoke/database/creds/app/L2") == 1);
}

TEST_CASE_FIXTURE(OAuthFixture, "a changed [[oauth2]] client is used from the next token on") {
  REQUIRE(oauthKeeper().start().ok());
  int made = 0;
  client.scope = "smtp other";
  keeper().useOAuth2Clients({client}, [&](const keeper::TokenSourceSettings& s) {
    ++made;
    CHECK(s.scope == "smtp other");
    return foundation::Result<std::unique_ptr<keeper::TokenFetcher>>(
        std::make_unique<ScriptedFetcher>(endpoint));
  });
  CHECK(seen().token == "tok-1");  // the current token serves on
  runFor(31s);
  CHECK(made == 1);
  CHECK(seen().token == "tok-2");
}

TEST_CASE("tokenSourceSettingsOf: the one conversion of an [[oauth2]] client") {
  OAuth2Client c;
  c.name = "m365";
  c.token_endpoint = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token";
  c.client_id = "app-id";
  c.scope = "https://outlook.office365.com/.default";
  c.authentication = "private_key_jwt";
  c.key_id = "thumb";
  c.timeout = 7s;
  auto s = tokenSourceSettingsOf(c);
  REQUIRE_MESSAGE(s.ok(), s.errorMessage());
  CHECK((s->authentication == keeper::ClientAuthentication::PrivateKeyJwt));
  CHECK(s->key_id == "thumb");
  CHECK(s->timeout == 7000ms);
  struct Case {
    std::string endpoint, authentication, message;
  };
  const Case cases[] = {
      {"http://login.example.test/token", "client_secret_post", "oauth2 client m365"},
      {"https://login.example.test/token", "password", "unknown authentication"},
  };
  for (const auto& bad : cases) {
    CAPTURE(bad.endpoint);
    c.token_endpoint = bad.endpoint;
    c.authentication = bad.authentication;
    auto refused = tokenSourceSettingsOf(c);
    REQUIRE_FALSE(refused.ok());
    CHECK((refused.error().kind == foundation::ErrorKind::Permanent));
    CHECK(refused.errorMessage().find(bad.message) != std::string::npos);
  }
  c.kv_mount = "kv";
  c.kv_path = "smtp-oauth/m365";
  c.kv_field = "private_key";
  const auto where = clientMaterialOf(c);
  CHECK(where.kv_mount == "kv");
  CHECK(where.kv_path == "smtp-oauth/m365");
  CHECK(where.field == "private_key");
}

// ---- issue 14: Vault faults do not stop mail while a valid credential exists ----

TEST_CASE_FIXTURE(
    Fixture, "a token revoked from outside: a 535 checks the token and logs in again at once") {
  REQUIRE(keeper().start().ok());
  vault->token_valid = false;  // `bao token revoke`: the token and its leases are gone
  CredentialKeeper::Changes changes;
  keeper().credentialRefused("database/creds/app/L1", changes);
  CHECK(vault->count("/v1/auth/token/lookup-self") == 1);
  CHECK(vault->logins == 2);
  CHECK(username() == "u2");
  CHECK(keeper().ready());
  CHECK(keeper().stats().token_revocations_detected == 1);
  CHECK(keeper().stats().rotations.at("token_revoked") == 1);
  // The old lease went with the token: retired at once, no grace.
  CHECK(changes.retired_leases == std::vector<std::string>{"database/creds/app/L1"});
  // Revoked again at once: a second new login waits 30 s (a policy without lookup-self
  // must not turn every 403 into a login), then happens.
  vault->token_valid = false;
  CredentialKeeper::Changes more;
  keeper().credentialRefused("database/creds/app/L2", more);
  CHECK(vault->logins == 2);
  runFor(45s);  // the replacement's retries (backoff) meet a 403 again after the 30 s
  CHECK(vault->logins == 3);
  // Vault revoked the old tokens itself: nothing left to revoke later.
  runFor(60s);
  CHECK(vault->count("/v1/auth/token/revoke-self tok-1") == 0);
}

TEST_CASE_FIXTURE(Fixture, "a 403 on the token's renewal means a new login in the same tick") {
  REQUIRE(keeper().start().ok());
  vault->token_valid = false;
  runFor(201s);  // the token renews at 2/3 of 300 s
  CHECK(vault->logins == 2);
  CHECK(vault->count("/v1/auth/token/lookup-self") == 0);  // renew-self said it already
  CHECK(username() == "u2");
  CHECK(keeper().stats().token_revocations_detected == 1);
}

TEST_CASE_FIXTURE(Fixture, "a 403 on a lease call looks the token up; a live token is kept") {
  REQUIRE(keeper().start().ok());
  (void)keeper().reconfigure(settings, {"database/creds/app", "smtp/creds/denied"});
  runFor(1s);  // the new path's read: 403 although the token is fine (a policy)
  CHECK(vault->count("/v1/auth/token/lookup-self") == 1);
  CHECK(vault->logins == 1);  // the token works: no new login
  CHECK(keeper().stats().token_revocations_detected == 0);
  CHECK(username(0) == "u1");
}

TEST_CASE_FIXTURE(Fixture,
                  "a refused credential whose replacement cannot be leased is kept, not dropped") {
  REQUIRE(keeper().start().ok());
  vault->leasing_fails = true;  // PostgreSQL down: the plugin cannot create a login
  CredentialKeeper::Changes changes;
  keeper().credentialRefused("database/creds/app/L1", changes);
  CHECK(username() == "u1");
  CHECK(keeper().ready());
  CHECK(changes.retired_leases.empty());
  // More refusals of the kept one (every failed send) do not ask Vault each time.
  const int reads = vault->count("/v1/database/creds/app");
  keeper().credentialRefused("database/creds/app/L1", changes);
  keeper().credentialRefused("database/creds/app/L1", changes);
  CHECK(vault->count("/v1/database/creds/app") == reads);
  vault->leasing_fails = false;  // back: the replacement (Lifetime::Replace) succeeds
  runFor(5s);
  CHECK(username() == "u2");
  CHECK(keeper().ready());
}

TEST_CASE_FIXTURE(Fixture, "a refused secret_id is never tried again; a new one is") {
  REQUIRE(keeper().start().ok());
  vault->login_status = 400;       // the secret_id expired while the sidecar ran
  vault->token_renew_grant = 100;  // the token's max TTL is near: a new login is due
  runFor(3600s);
  CHECK(vault->count("/v1/auth/approle/login") == 2);  // one refused try, never again
  CHECK(keeper().loginState() == CredentialKeeper::LoginState::SecretIdRejected);
  CHECK(keeper().stats().secret_ids_rejected == 1);
  // A new secret_id is delivered into the file: it is tried (once), and works.
  {
    std::ofstream f(secret_id.path, std::ios::trunc);
    f << "sid-2\n";
  }
  vault->login_status = 200;
  runFor(31s);  // looked for every 10 s; the re-login's own backoff is at most 30 s
  CHECK(vault->count("/v1/auth/approle/login") == 3);
  CHECK(vault->last_secret_id == "sid-2");
  CHECK(keeper().loginState() == CredentialKeeper::LoginState::Ok);
  CHECK(keeper().ready());
}

TEST_CASE_FIXTURE(Fixture, "an AppRole lockout is named and a login is tried once a minute") {
  REQUIRE(keeper().start().ok());
  vault->login_status = 403;  // OpenBao's user lockout
  vault->token_renew_grant = 100;
  runFor(210s);  // the re-login is due (2/3 of 300 s) and gets the lockout
  REQUIRE(keeper().loginState() == CredentialKeeper::LoginState::LockedOut);
  runFor(50s);
  CHECK(vault->count("/v1/auth/approle/login") == 2);
  CHECK(keeper().loginState() == CredentialKeeper::LoginState::LockedOut);
  CHECK(keeper().stats().lockouts_detected == 1);
  runFor(60s);  // one try a minute (a locked role_id's logins are not counted)
  CHECK(vault->count("/v1/auth/approle/login") == 3);
  CHECK(keeper().stats().lockouts_detected == 2);
  vault->login_status = 200;  // the lockout ended
  runFor(70s);
  CHECK(vault->count("/v1/auth/approle/login") == 4);
  CHECK(keeper().loginState() == CredentialKeeper::LoginState::Ok);
}

TEST_CASE_FIXTURE(Fixture, "a sidecar started during a lockout waits instead of exiting") {
  settings.secret_id_wrapped = true;
  settings.approle_role = "app";
  settings.remove_secret_id_file = true;
  vault->login_status = 403;
  auto first = keeper().start();
  REQUIRE_FALSE(first.ok());
  CHECK((first.error().kind == foundation::ErrorKind::Temporary));  // not 78: wait it out
  CHECK(first.error().message.find("403") != std::string::npos);
  // Retried within the lockout: no login is sent at all.
  clock.advance(std::chrono::seconds(30));
  CHECK_FALSE(keeper().start().ok());
  CHECK(vault->count("/v1/auth/approle/login") == 1);
  vault->login_status = 200;
  clock.advance(std::chrono::minutes(16));
  REQUIRE(keeper().start().ok());
  CHECK(vault->count("/v1/sys/wrapping/unwrap") == 1);  // the wrapped one was spent once
  CHECK(keeper().ready());
}

TEST_CASE_FIXTURE(Fixture,
                  "the Vault-call thread: the loop answers from a valid credential while Vault "
                  "hangs") {
  REQUIRE(keeper().start().ok());
  keeper::VaultCallThread thread(keeper(), clock);
  REQUIRE(thread.start().ok());
  auto state = thread.drain().state;
  REQUIRE(keeper::usablePath(state, 0, clock.now()) != nullptr);
  // A refusal's Vault calls hang (OpenBao stopped): the job waits on the Vault thread.
  vault->hangNext();
  thread.post([](CredentialKeeper& k, CredentialKeeper::Changes& changes) {
    k.credentialRefused("database/creds/app/L1", changes);
  });
  for (int i = 0; i < 500 && !vault->hanging(); ++i) std::this_thread::sleep_for(2ms);
  REQUIRE(vault->hanging());
  // Meanwhile the loop's answers do not wait: the published credential is still valid.
  const auto asked = std::chrono::steady_clock::now();
  state = thread.drain().state;
  CHECK(std::chrono::steady_clock::now() - asked < 100ms);
  const auto* usable = keeper::usablePath(state, 0, clock.now());
  REQUIRE(usable != nullptr);
  CHECK(usable->credential->lease_id == "database/creds/app/L1");
  CHECK(state.vault_call_running);
  CHECK(keeper::allPathsUsable(state, clock.now()));
  CHECK(keeper::validSeconds(state, clock.now()) == 3600);
  // Past its expiry the loop stops handing it out by itself, Vault or not.
  CHECK(keeper::usablePath(state, 0, clock.now() + 3601s) == nullptr);
  CHECK(keeper::notReadyWord(state, clock.now() + 3601s) == "credential_expired");
  vault->release();
  keeper::VaultCallThread::Drained drained;
  for (int i = 0; i < 500; ++i) {
    drained = thread.drain();
    if (!drained.state.vault_call_running && drained.state.generation >= 2) break;
    std::this_thread::sleep_for(2ms);
  }
  REQUIRE(keeper::usablePath(drained.state, 0, clock.now()) != nullptr);
  CHECK(keeper::usablePath(drained.state, 0, clock.now())->credential->lease_id ==
        "database/creds/app/L2");
  CHECK(thread.stop([](CredentialKeeper& k) { return k.revokeAll(); }).ok());
  CHECK(vault->count("/v1/sys/leases/revoke/database/creds/app/L2") == 1);
}

TEST_CASE_FIXTURE(Fixture,
                  "the Vault-call thread publishes a counter when it changes, not when the "
                  "round ends") {
  REQUIRE(keeper().start().ok());
  keeper::VaultCallThread thread(keeper(), clock);
  REQUIRE(thread.start().ok());
  clock.advance(std::chrono::seconds(250));  // the token's renewal is due
  // One round: the token renewal fails (counted and logged), then the next call hangs.
  thread.post([this](CredentialKeeper& k, CredentialKeeper::Changes& changes) {
    vault->down = true;
    (void)k.tick(changes);
    vault->down = false;
    vault->hangNext();
    k.credentialRefused("database/creds/app/L1", changes);
  });
  for (int i = 0; i < 500 && !vault->hanging(); ++i) std::this_thread::sleep_for(2ms);
  REQUIRE(vault->hanging());
  const auto state = thread.drain().state;
  CHECK(state.vault_call_running);
  // The log already says token_renew_failed: the figure says so too while the round waits.
  CHECK(state.stats.token_renewal_failures == 1);
  vault->release();
  CHECK(thread.stop([](CredentialKeeper& k) { return k.revokeAll(); }).ok());
}

TEST_CASE("the published state names why the keeper is not ready") {
  keeper::KeeperState state;
  const auto now = foundation::SteadyTime(std::chrono::hours(1));
  state.paths.push_back({"database/creds/app", nullptr, {}, {}});
  CHECK(keeper::notReadyWord(state, now) == "no_credential");
  state.login_state = CredentialKeeper::LoginState::LockedOut;
  CHECK(keeper::notReadyWord(state, now) == "approle_locked_out");
  state.login_state = CredentialKeeper::LoginState::SecretIdRejected;
  CHECK(keeper::notReadyWord(state, now) == "secret_id_rejected");
  state.login_state = CredentialKeeper::LoginState::Ok;
  state.vault_call_running = true;
  state.vault_call_since = now - 10s;
  CHECK(keeper::notReadyWord(state, now) == "vault_not_answering");
  CHECK(keeper::validSeconds(state, now) == 0);
  CHECK_FALSE(keeper::nextValidityChange(state, now).has_value());
}
