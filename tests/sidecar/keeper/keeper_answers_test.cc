// keeper_answers_test.cc: what keeper_main answers the worker without Vault or the poll
// loop (keeper_answers.h): which wrapped spool keys from the worker may reach Transit,
// and the /metrics figures built from the Vault thread's published state.
#include "sidecar/keeper/keeper_answers.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>

using namespace sidecar;
using namespace std::chrono_literals;

TEST_CASE("spoolKeyShaped: only Transit's ciphertext (or nothing) reaches Transit") {
  const struct {
    std::string wrapped;
    bool ok;
  } rows[] = {
      {"", true},  // no key yet: a new one is made
      {"vault:v1:8SDd3WHDOjf7mq69CyCqYjBXAiQQAVZRkFM13ok481zoCmHnSeDX9vyf7w==", true},
      {"vault:v12:abc+/=", true},
      {"vault:v1:", true},
      {"VAULT:v1:abc", false},
      {"vault:x1:abc", false},
      {"vault:v1:abc def", false},         // a space
      {"vault:v1:abc\n", false},           // a line break
      {"vault:v1:../../sys/seal", false},  // a path
      {"vault:v1:abc\"}", false},          // JSON
      {std::string("vault:v1:a\0b", 12), false},
      {"transit:v1:abc", false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.wrapped);
    CHECK(keeper::spoolKeyShaped(row.wrapped) == row.ok);
  }
}

namespace {

keeper::KeeperState twoPaths(foundation::SteadyTime now) {
  keeper::KeeperState state;
  auto credential = std::make_shared<const ipc::SmtpCredential>();
  state.paths.push_back({"smtp/creds/app", credential, now - 1s, now + 3600s});
  state.paths.push_back({"smtp/creds/web", credential, now - 1s, now + 600s});
  state.leases_active = 3;
  state.stats.lease_renewals = 7;
  state.stats.lease_renewal_failures = 1;
  state.stats.token_renewals = 40;
  state.stats.token_renewal_failures = 2;
  state.stats.logins = 1;
  state.stats.login_failures = 4;
  state.stats.rotations = {{"max_ttl", 2}, {"refused", 1}};
  state.stats.lockouts_detected = 5;
  state.stats.token_revocations_detected = 6;
  return state;
}

}  // namespace

TEST_CASE("keeperFigures: counters, each path's seconds left, the least-lasting one") {
  const foundation::SteadyTime now{std::chrono::hours(10)};
  const auto f = keeper::keeperFigures(twoPaths(now), now, 1'900'000'000);
  CHECK(f.leases_active == 3);
  CHECK(f.lease_renewals == 7);
  CHECK(f.lease_renewal_failures == 1);
  CHECK(f.token_renewals == 40);
  CHECK(f.token_renewal_failures == 2);
  CHECK(f.logins == 1);
  CHECK(f.login_failures == 4);
  CHECK(f.lockouts_detected == 5);
  CHECK(f.token_revocations_detected == 6);
  REQUIRE(f.rotations.size() == 2);
  CHECK(f.rotations[0] == telemetry::KeeperFigures::Named{"max_ttl", 2});
  CHECK(f.rotations[1] == telemetry::KeeperFigures::Named{"refused", 1});
  REQUIRE(f.expiry.size() == 2);
  CHECK(f.expiry[0] == telemetry::KeeperFigures::Expiry{"smtp/creds/app", 3600});
  CHECK(f.expiry[1] == telemetry::KeeperFigures::Expiry{"smtp/creds/web", 600});
  CHECK(f.credential_valid_seconds == 600);
  CHECK(f.approle_locked_out == 0);
  CHECK(f.secret_id_rejected == 0);
  CHECK(f.vault_call_stalled == 0);
  CHECK_FALSE(f.secret_id_expiry_known);
  CHECK(f.vault_requests.empty());  // the Vault request counts are VaultRequests::fill's
}

TEST_CASE("keeperFigures: the states an operator alerts on, row by row") {
  const foundation::SteadyTime now{std::chrono::hours(10)};
  using LS = CredentialKeeper::LoginState;
  const struct {
    const char* name;
    void (*edit)(keeper::KeeperState&, foundation::SteadyTime);
    std::uint64_t locked, rejected, stalled, valid, first_expiry;
  } rows[] = {
      {"as is", [](keeper::KeeperState&, foundation::SteadyTime) {}, 0, 0, 0, 600, 3600},
      {"locked out",
       [](keeper::KeeperState& s, foundation::SteadyTime) { s.login_state = LS::LockedOut; }, 1, 0,
       0, 600, 3600},
      {"secret_id rejected",
       [](keeper::KeeperState& s, foundation::SteadyTime) { s.login_state = LS::SecretIdRejected; },
       0, 1, 0, 600, 3600},
      {"a Vault call for 6 s",
       [](keeper::KeeperState& s, foundation::SteadyTime t) {
         s.vault_call_running = true;
         s.vault_call_since = t - 6s;
       },
       0, 0, 1, 600, 3600},
      {"a Vault call for 5 s (not yet)",
       [](keeper::KeeperState& s, foundation::SteadyTime t) {
         s.vault_call_running = true;
         s.vault_call_since = t - 5s;
       },
       0, 0, 0, 600, 3600},
      {"a call long done",
       [](keeper::KeeperState& s, foundation::SteadyTime t) { s.vault_call_since = t - 60s; }, 0, 0,
       0, 600, 3600},
      {"a path without a credential",
       [](keeper::KeeperState& s, foundation::SteadyTime) { s.paths[0].credential = nullptr; }, 0,
       0, 0, 0, 0},
      {"a credential past its expiry",
       [](keeper::KeeperState& s, foundation::SteadyTime t) { s.paths[0].expires_at = t - 1s; }, 0,
       0, 0, 0, 0},
      {"an SES login still waiting for IAM",
       [](keeper::KeeperState& s, foundation::SteadyTime t) { s.paths[0].usable_at = t + 5s; }, 0,
       0, 0, 0, 3600},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    auto state = twoPaths(now);
    row.edit(state, now);
    const auto f = keeper::keeperFigures(state, now, 1'900'000'000);
    CHECK(f.approle_locked_out == row.locked);
    CHECK(f.secret_id_rejected == row.rejected);
    CHECK(f.vault_call_stalled == row.stalled);
    CHECK(f.credential_valid_seconds == row.valid);
    CHECK(f.expiry[0].seconds == row.first_expiry);
  }
}

TEST_CASE("keeperFigures: the secret_id's expiry on the wall clock, never negative") {
  const foundation::SteadyTime now{std::chrono::hours(10)};
  auto state = twoPaths(now);
  state.secret_id_expires_unix = 1'900'000'900;
  auto f = keeper::keeperFigures(state, now, 1'900'000'000);
  CHECK(f.secret_id_expiry_known);
  CHECK(f.secret_id_expires_seconds == 900);
  f = keeper::keeperFigures(state, now, 1'900'001'000);  // past it
  CHECK(f.secret_id_expiry_known);
  CHECK(f.secret_id_expires_seconds == 0);
}
