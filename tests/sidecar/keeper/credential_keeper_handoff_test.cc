// credential_keeper_handoff_test.cc: a keeper that takes over its dead predecessor's
// hand-off record (issue 14): the same token and lease without a login or a new lease;
// a dead token means a login with the record's secret_id (no secret_id file needed);
// leases being retired are revoked; Vault unreachable means the record's expiry times;
// the record round-trips through the hand-off memory's encoding.
#include <doctest/doctest.h>
#include <unistd.h>

#include <memory>

#include "keeper_test_support.h"
#include "sidecar/keeper/credential_keeper.h"
#include "vault-client/fake_transport.h"

using namespace sidecar;
using namespace std::chrono_literals;

namespace {

// A Vault with one AppRole, one credential path and the calls a take-over makes.
class HandoffVault final : public vault::HttpTransport {
 public:
  bool down = false;
  bool token_valid = true;
  int logins = 0;
  int leases_issued = 0;
  std::vector<std::string> log;  // "path"

  foundation::Result<vault::HttpResponse> send(const vault::HttpRequest& r) override {
    log.push_back(r.path);
    if (down) return foundation::Error::notSent("connection refused");
    if (r.path == "/v1/auth/approle/login") {
      ++logins;
      token_valid = true;
      return answer(200, R"({"auth":{"client_token":"tok-)" + std::to_string(logins) +
                             R"(","accessor":"acc-)" + std::to_string(logins) +
                             R"(","lease_duration":300,"renewable":true}})");
    }
    if (!token_valid) return answer(403, R"({"errors":["permission denied"]})");
    if (r.path == "/v1/auth/token/lookup-self") {
      return answer(200, R"({"data":{"accessor":"acc-1","ttl":200,"creation_ttl":300,)"
                         R"("explicit_max_ttl":0,"renewable":true,"expire_time":"x",)"
                         R"("policies":["p"]}})");
    }
    if (r.path == "/v1/database/creds/app") {
      ++leases_issued;
      return answer(200, R"({"lease_id":"database/creds/app/L)" + std::to_string(leases_issued) +
                             R"(","lease_duration":3600,"renewable":true,)"
                             R"("data":{"username":"u)" +
                             std::to_string(leases_issued) + R"(","password":"p"}})");
    }
    if (r.path.rfind("/v1/sys/leases/renew/", 0) == 0) {
      return answer(200, R"({"lease_id":")" + r.path.substr(21) +
                             R"(","lease_duration":3000,"renewable":true})");
    }
    if (r.path.rfind("/v1/sys/leases/revoke/", 0) == 0 || r.path == "/v1/auth/token/revoke-self") {
      return answer(204, "");
    }
    return answer(404, R"({"errors":["no handler"]})");
  }
  int count(const std::string& path) const {
    int n = 0;
    for (const auto& line : log) n += line.rfind(path, 0) == 0 ? 1 : 0;
    return n;
  }

 private:
  static vault::HttpResponse answer(long status, const std::string& body) {
    return keeper_test::vaultAnswer(status, body);
  }
};

// Two keepers on one Vault: the one that dies and its successor, each with its client.
struct Generations : keeper_test::AppRoleFiles {
  struct Generation {
    std::unique_ptr<vault::Client> client;
    std::unique_ptr<CredentialKeeper> keeper;
  };
  Generation make() {
    // Each client talks to the same scripted Vault.
    struct Forward final : vault::HttpTransport {
      explicit Forward(HandoffVault& v) : vault(v) {}
      foundation::Result<vault::HttpResponse> send(const vault::HttpRequest& r) override {
        return vault.send(r);
      }
      HandoffVault& vault;
    };
    Generation g;
    g.client = keeper_test::scriptedClient(std::make_unique<Forward>(vault), clock);
    g.keeper = std::make_unique<CredentialKeeper>(settings, *g.client, clock, [] { return 0.0; });
    return g;
  }
  static std::string username(const CredentialKeeper& k) {
    std::string out;
    k.withCredential(0, [&](const ipc::SmtpCredential& c) {
      out = keeper_test::revealed(c.username) + "@" + c.lease_id;
    });
    return out;
  }
  // The record as it crosses the hand-off memory: encoded, decoded.
  static ipc::HandoffState throughMemory(const CredentialKeeper& k) {
    ipc::HandoffState state;
    k.exportHandoff(state);
    ipc::Packet packet;
    REQUIRE(ipc::encodeHandoffState(state, packet));
    ipc::Reader r(packet.view());
    ipc::HandoffState out;
    REQUIRE(r.header());
    REQUIRE(ipc::decodeHandoffState(r, out));
    return out;
  }

  fakes::FakeClock clock;
  HandoffVault vault;
};

}  // namespace

TEST_CASE_FIXTURE(Generations, "the successor takes over the token and the lease: no login") {
  auto dead = make();
  REQUIRE(dead.keeper->start().ok());
  REQUIRE(username(*dead.keeper) == "u1@database/creds/app/L1");
  auto record = throughMemory(*dead.keeper);
  CHECK(record.token.equals("tok-1"));
  CHECK(record.token_accessor == "acc-1");
  REQUIRE(record.leases.size() == 1);
  CHECK(record.leases[0].current);
  // The secret_id file is gone (read once): the successor must not need it.
  ::unlink(secret_id.path.c_str());

  auto next = make();
  CredentialKeeper::Changes changes;
  next.keeper->adoptHandoff(std::move(record), changes);
  REQUIRE(next.keeper->start().ok());
  CHECK(changes.credential_changed);
  CHECK(next.keeper->ready());
  CHECK(username(*next.keeper) == "u1@database/creds/app/L1");  // the same lease
  CHECK(vault.logins == 1);
  CHECK(vault.leases_issued == 1);
  CHECK(vault.count("/v1/auth/token/lookup-self") == 1);
  CHECK(vault.count("/v1/sys/leases/renew/database/creds/app/L1") == 1);
  CHECK(vault.count("/v1/sys/leases/revoke/") == 0);
}

TEST_CASE_FIXTURE(Generations, "a dead token: login with the record's secret_id, a new lease") {
  auto dead = make();
  REQUIRE(dead.keeper->start().ok());
  auto record = throughMemory(*dead.keeper);
  ::unlink(secret_id.path.c_str());
  vault.token_valid = false;  // revoked from outside: its lease went with it

  auto next = make();
  CredentialKeeper::Changes changes;
  next.keeper->adoptHandoff(std::move(record), changes);
  REQUIRE(next.keeper->start().ok());
  CHECK(vault.logins == 2);
  CHECK(vault.leases_issued == 2);
  CHECK(username(*next.keeper) == "u2@database/creds/app/L2");
}

TEST_CASE_FIXTURE(Generations, "leases the predecessor was retiring are revoked at once") {
  auto dead = make();
  REQUIRE(dead.keeper->start().ok());
  CredentialKeeper::Changes refused;
  dead.keeper->credentialRefused("database/creds/app/L1", refused);  // L2 current
  auto record = throughMemory(*dead.keeper);
  // L1 was revoked by the refusal itself (no grace): what is left is the current one.
  REQUIRE(record.leases.size() == 1);
  // A retiring lease, as a rotation's grace leaves it.
  ipc::HandoffLease retiring;
  retiring.lease_id = "database/creds/app/L0";
  retiring.expires_unix = 4000000000;
  record.leases.push_back(std::move(retiring));

  auto next = make();
  CredentialKeeper::Changes changes;
  next.keeper->adoptHandoff(std::move(record), changes);
  REQUIRE(next.keeper->start().ok());
  CredentialKeeper::Changes ticked;
  (void)next.keeper->tick(ticked);
  CHECK(vault.count("/v1/sys/leases/revoke/database/creds/app/L0") == 1);
  CHECK(username(*next.keeper) == "u2@database/creds/app/L2");
  REQUIRE(ticked.retired_leases.size() == 1);
  CHECK(ticked.retired_leases[0] == "database/creds/app/L0");
}

TEST_CASE_FIXTURE(Generations, "Vault unreachable: the record's own expiry times are used") {
  auto dead = make();
  REQUIRE(dead.keeper->start().ok());
  auto record = throughMemory(*dead.keeper);
  vault.down = true;

  auto next = make();
  CredentialKeeper::Changes changes;
  next.keeper->adoptHandoff(std::move(record), changes);
  REQUIRE(next.keeper->start().ok());  // no Vault call needed
  CHECK(next.keeper->ready());
  CHECK(username(*next.keeper) == "u1@database/creds/app/L1");
  const auto left = next.keeper->secondsToExpiry(0);
  CHECK(left > 3500);
  CHECK(left <= 3600);
  CHECK(vault.logins == 1);
}

TEST_CASE_FIXTURE(Generations, "a clean stop leaves nothing worth taking over") {
  auto dead = make();
  REQUIRE(dead.keeper->start().ok());
  REQUIRE(dead.keeper->revokeAll().ok());
  auto record = throughMemory(*dead.keeper);
  CHECK(record.token.empty());
  CHECK(record.leases.empty());
  CHECK(record.role_id.equals("role-1"));
}
