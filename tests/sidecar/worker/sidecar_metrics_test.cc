// sidecar_metrics_test.cc: the sidecar's metric families: outcome and reply-class
// labels, the worker's series, and the exact text of the
// keeper's figures as the worker renders them.
#include "sidecar/worker/sidecar_metrics.h"

#include <doctest/doctest.h>

using namespace sidecar;
using namespace sidecar::telemetry;
using namespace std::chrono_literals;

namespace {

mailformat::RecipientReply recipient(const char* address, int code) {
  mailformat::RecipientReply r;
  r.address = address;
  r.reply.code = code;
  return r;
}

submit::SubmitResult result(relay::SendOutcome outcome, int code,
                            std::vector<mailformat::RecipientReply> recipients = {}) {
  submit::SubmitResult r;
  r.send.outcome = outcome;
  r.send.reply.code = code;
  r.send.recipients = std::move(recipients);
  return r;
}

bool contains(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("each result has one outcome label") {
  submit::SubmitResult none;
  none.no_credential = true;
  struct Case {
    submit::SubmitResult result;
    const char* outcome;
  };
  const Case cases[] = {
      {result(relay::SendOutcome::Accepted, 250, {recipient("a@x", 250)}), "sent"},
      {result(relay::SendOutcome::Accepted, 250, {recipient("a@x", 250), recipient("b@x", 550)}),
       "partially_sent"},
      {result(relay::SendOutcome::Rejected, 550, {recipient("b@x", 550)}), "rejected"},
      {result(relay::SendOutcome::AuthRefused, 535), "auth_refused"},
      {result(relay::SendOutcome::TlsFailure, 0), "tls_failed"},
      {result(relay::SendOutcome::TemporaryFailure, 451), "temporary_failure"},
      {none, "no_credential"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.outcome);
    CHECK(std::string(outcomeOf(c.result)) == c.outcome);
  }
}

TEST_CASE("SMTP reply classes") {
  const std::pair<int, const char*> cases[] = {{250, "2xx"},  {354, "3xx"}, {421, "4xx"},
                                               {535, "5xx"},  {0, nullptr}, {199, nullptr},
                                               {600, nullptr}};
  for (const auto& c : cases) {
    const int code = c.first;
    const char* cls = c.second;
    CAPTURE(code);
    const char* got = replyClassOf(code);
    if (cls == nullptr) {
      CHECK(got == nullptr);
    } else {
      REQUIRE(got != nullptr);
      CHECK(std::string(got) == cls);
    }
  }
}

TEST_CASE("the worker's series move with attempts and finished messages") {
  WorkerMetrics m;
  auto partial =
      result(relay::SendOutcome::Accepted, 250, {recipient("a@x", 250), recipient("b@x", 550)});
  m.attempt(partial.send, 120ms);
  m.finished(partial, Mode::Sync);
  auto refused = result(relay::SendOutcome::Rejected, 554, {recipient("c@x", 550)});
  m.attempt(refused.send, 2s);
  m.finished(refused, Mode::Async);
  m.setQueueDepth(7);
  m.setQueueBytes(1 << 20);
  m.setKeeperUp(true);
  const auto text = m.registry().render();
  CHECK(contains(text, "smtp_sidecar_messages_total{outcome=\"partially_sent\",mode=\"sync\"} 1"));
  CHECK(contains(text, "smtp_sidecar_messages_total{outcome=\"rejected\",mode=\"async\"} 1"));
  CHECK(contains(text, "smtp_sidecar_messages_total{outcome=\"sent\",mode=\"sync\"} 0"));
  CHECK(contains(text, "smtp_sidecar_smtp_replies_total{class=\"2xx\"} 1"));
  CHECK(contains(text, "smtp_sidecar_smtp_replies_total{class=\"5xx\"} 1"));
  CHECK(contains(text, "smtp_sidecar_smtp_replies_total{class=\"4xx\"} 0"));
  CHECK(contains(text, "smtp_sidecar_smtp_recipient_replies_total{class=\"2xx\"} 1"));
  CHECK(contains(text, "smtp_sidecar_smtp_recipient_replies_total{class=\"5xx\"} 2"));
  CHECK(contains(text, "smtp_sidecar_send_duration_seconds_bucket{le=\"0.25\"} 1"));
  CHECK(contains(text, "smtp_sidecar_send_duration_seconds_bucket{le=\"2.5\"} 2"));
  CHECK(contains(text, "smtp_sidecar_send_duration_seconds_count 2"));
  CHECK(contains(text, "smtp_sidecar_send_duration_seconds_sum 2.12"));
  CHECK(contains(text, "smtp_sidecar_queue_depth 7"));
  CHECK(contains(text, "smtp_sidecar_queue_bytes 1048576"));
  CHECK(contains(text, "smtp_sidecar_keeper_up 1"));
}

TEST_CASE("the keeper's figures render exactly") {
  KeeperFigures f;
  f.leases_active = 1;
  f.lease_renewals = 3;
  f.token_renewals = 9;
  f.logins = 1;
  f.rotations = {{"max_ttl", 2}};
  f.expiry = {{"smtp/creds/example-app", 3599}};
  f.vault_requests = {{"read", "2xx", 1}};
  KeeperFigures::Latency l;
  l.operation = "read";
  l.buckets[1] = 1;  // le 0.01
  l.sum_microseconds = 7500;
  f.vault_latency = {l};
  metrics::Registry r;
  exportKeeperFigures(f, r);
  const std::string expected =
      "# HELP smtp_sidecar_leases_active SMTP credential leases the keeper holds (current and "
      "retiring).\n"
      "# TYPE smtp_sidecar_leases_active gauge\n"
      "smtp_sidecar_leases_active 1\n"
      "# HELP smtp_sidecar_credential_expiry_seconds Seconds until the current credential of a "
      "credential path expires (0: none leased).\n"
      "# TYPE smtp_sidecar_credential_expiry_seconds gauge\n"
      "smtp_sidecar_credential_expiry_seconds{path=\"smtp/creds/example-app\"} 3599\n"
      "# HELP smtp_sidecar_credential_valid_seconds Seconds the least-lasting current credential "
      "remains valid: how long sending goes on if Vault stops answering now (0: a path has none).\n"
      "# TYPE smtp_sidecar_credential_valid_seconds gauge\n"
      "smtp_sidecar_credential_valid_seconds 0\n"
      "# HELP smtp_sidecar_vault_approle_locked_out 1 while OpenBao's user lockout refuses this "
      "role_id's logins (no login is tried until it ends).\n"
      "# TYPE smtp_sidecar_vault_approle_locked_out gauge\n"
      "smtp_sidecar_vault_approle_locked_out 0\n"
      "# HELP smtp_sidecar_vault_secret_id_rejected 1 while Vault has refused the secret_id and "
      "the keeper waits for a new one.\n"
      "# TYPE smtp_sidecar_vault_secret_id_rejected gauge\n"
      "smtp_sidecar_vault_secret_id_rejected 0\n"
      "# HELP smtp_sidecar_vault_call_stalled 1 while a Vault call has been running for over 5 s "
      "(answers to sends go on from the current credential).\n"
      "# TYPE smtp_sidecar_vault_call_stalled gauge\n"
      "smtp_sidecar_vault_call_stalled 0\n"
      "# HELP smtp_sidecar_vault_lockouts_total AppRole logins that OpenBao answered with its user "
      "lockout.\n"
      "# TYPE smtp_sidecar_vault_lockouts_total counter\n"
      "smtp_sidecar_vault_lockouts_total 0\n"
      "# HELP smtp_sidecar_vault_token_revocations_total Times the Vault token was found revoked "
      "from outside (403), each followed by a new login at once.\n"
      "# TYPE smtp_sidecar_vault_token_revocations_total counter\n"
      "smtp_sidecar_vault_token_revocations_total 0\n"
      "# HELP smtp_sidecar_lease_renewals_total Credential lease renewals that Vault granted.\n"
      "# TYPE smtp_sidecar_lease_renewals_total counter\n"
      "smtp_sidecar_lease_renewals_total 3\n"
      "# HELP smtp_sidecar_lease_renewal_failures_total Credential lease renewals that failed "
      "(retried with backoff).\n"
      "# TYPE smtp_sidecar_lease_renewal_failures_total counter\n"
      "smtp_sidecar_lease_renewal_failures_total 0\n"
      "# HELP smtp_sidecar_token_renewals_total Vault token renewals that Vault granted.\n"
      "# TYPE smtp_sidecar_token_renewals_total counter\n"
      "smtp_sidecar_token_renewals_total 9\n"
      "# HELP smtp_sidecar_token_renewal_failures_total Vault token renewals that failed "
      "(retried with backoff).\n"
      "# TYPE smtp_sidecar_token_renewal_failures_total counter\n"
      "smtp_sidecar_token_renewal_failures_total 0\n"
      "# HELP smtp_sidecar_vault_logins_total AppRole logins that succeeded (the first, and "
      "each before a token's max TTL).\n"
      "# TYPE smtp_sidecar_vault_logins_total counter\n"
      "smtp_sidecar_vault_logins_total 1\n"
      "# HELP smtp_sidecar_vault_login_failures_total AppRole logins that failed.\n"
      "# TYPE smtp_sidecar_vault_login_failures_total counter\n"
      "smtp_sidecar_vault_login_failures_total 0\n"
      "# HELP smtp_sidecar_credential_rotations_total New credentials leased in place of a "
      "current one, by reason (max_ttl, token_max_ttl, token_revoked, refused).\n"
      "# TYPE smtp_sidecar_credential_rotations_total counter\n"
      "smtp_sidecar_credential_rotations_total{reason=\"max_ttl\"} 2\n"
      "smtp_sidecar_credential_rotations_total{reason=\"refused\"} 0\n"
      "smtp_sidecar_credential_rotations_total{reason=\"token_max_ttl\"} 0\n"
      "smtp_sidecar_credential_rotations_total{reason=\"token_revoked\"} 0\n"
      "# HELP smtp_sidecar_vault_requests_total HTTP requests to Vault (each attempt), by "
      "operation and status class (error: no answer).\n"
      "# TYPE smtp_sidecar_vault_requests_total counter\n"
      "smtp_sidecar_vault_requests_total{operation=\"read\",status_class=\"2xx\"} 1\n"
      "# HELP smtp_sidecar_vault_request_duration_seconds Time of one HTTP request to Vault, by "
      "operation.\n"
      "# TYPE smtp_sidecar_vault_request_duration_seconds histogram\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"0.005\"} 0\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"0.01\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"0.025\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"0.05\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"0.1\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"0.25\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"0.5\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"1\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"2.5\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"5\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"10\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"30\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_bucket{operation=\"read\",le=\"+Inf\"} 1\n"
      "smtp_sidecar_vault_request_duration_seconds_sum{operation=\"read\"} 0.0075\n"
      "smtp_sidecar_vault_request_duration_seconds_count{operation=\"read\"} 1\n";
  CHECK(r.render() == expected);
  // The worker's families and the keeper's never share a name (one exposition).
  WorkerMetrics worker;
  const auto worker_text = worker.registry().render();
  for (const char* name : {"smtp_sidecar_leases_active", "smtp_sidecar_vault_requests_total"}) {
    CHECK(worker_text.find(name) == std::string::npos);
  }
}

TEST_CASE("per-profile counters are exported with the profile's name") {
  std::map<std::string, profile::ProfileStats> stats;
  stats["billing"].accepted = 5;
  stats["billing"].rate_limited = 2;
  stats["billing"].sender_refused = 1;
  stats["default"] = {};
  metrics::Registry r;
  exportProfileStats(stats, 3, r);
  const auto text = r.render();
  CHECK(contains(text, "smtp_sidecar_rate_limited_total{profile=\"billing\"} 2"));
  CHECK(contains(text, "smtp_sidecar_rate_limited_total{profile=\"default\"} 0"));
  CHECK(contains(text, "smtp_sidecar_profile_accepted_total{profile=\"billing\"} 5"));
  CHECK(contains(
      text,
      "smtp_sidecar_profile_refusals_total{profile=\"billing\",reason=\"sender_not_allowed\"} 1"));
  CHECK(contains(
      text, "smtp_sidecar_profile_refusals_total{profile=\"billing\",reason=\"too_large\"} 0"));
  CHECK(contains(text, "smtp_sidecar_peers_refused_total 3"));
}
