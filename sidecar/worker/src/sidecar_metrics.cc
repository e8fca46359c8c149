// sidecar_metrics.cc: the sidecar's metric families (see sidecar_metrics.h).
//
// SECURITY: only fixed words, profile names and credential paths become labels.
// ERRORS: none; lists past kMaxFigureEntries stop growing.
#include "sidecar/worker/sidecar_metrics.h"

#include <algorithm>
#include <tuple>

namespace sidecar::telemetry {
namespace {

constexpr const char* kOutcomes[] = {"sent",         "partially_sent", "rejected",
                                     "auth_refused", "tls_failed",     "temporary_failure",
                                     "no_credential"};
constexpr const char* kModes[] = {"sync", "async"};
constexpr const char* kReplyClasses[] = {"2xx", "3xx", "4xx", "5xx"};

std::vector<double> vaultBuckets() {
  return std::vector<double>(kVaultLatencyBuckets.begin(), kVaultLatencyBuckets.end());
}

}  // namespace

const char* toString(Mode mode) noexcept {
  return mode == Mode::Sync ? "sync" : "async";
}

const char* outcomeOf(const submit::SubmitResult& result) noexcept {
  if (result.no_credential) return "no_credential";
  switch (result.send.outcome) {
    case relay::SendOutcome::Accepted: {
      const bool partial = std::any_of(result.send.recipients.begin(), result.send.recipients.end(),
                                       [](const auto& r) { return !r.reply.isPositive(); });
      return partial ? "partially_sent" : "sent";
    }
    case relay::SendOutcome::Rejected:
      return "rejected";
    case relay::SendOutcome::AuthRefused:
      return "auth_refused";
    case relay::SendOutcome::TlsFailure:
      return "tls_failed";
    case relay::SendOutcome::TemporaryFailure:
      return "temporary_failure";
  }
  return "temporary_failure";
}

const char* replyClassOf(int code) noexcept {
  if (code < 200 || code > 599) return nullptr;
  return kReplyClasses[code / 100 - 2];
}

const std::vector<double>& sendLatencyBuckets() {
  static const std::vector<double> buckets = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                              1,    2.5,   5,    10,  30,   60};
  return buckets;
}

WorkerMetrics::WorkerMetrics()
    : messages_(registry_.counter(
          "smtp_sidecar_messages_total",
          "Messages finished, by outcome and by submission mode (sync: answered at once; "
          "async: left the queue, after any retries).",
          {"outcome", "mode"})),
      replies_(registry_.counter(
          "smtp_sidecar_smtp_replies_total",
          "SMTP replies that decided a send attempt (the answer to DATA, or the reply that "
          "ended the transaction), by class.",
          {"class"})),
      recipients_(registry_.counter("smtp_sidecar_smtp_recipient_replies_total",
                                    "SMTP replies to RCPT TO, by class.", {"class"})),
      send_latency_(registry_.histogram(
          "smtp_sidecar_send_duration_seconds",
          "Time of one SMTP send attempt, from the credential's arrival to the server's "
          "last reply.",
          sendLatencyBuckets())),
      queue_depth_(registry_.gauge("smtp_sidecar_queue_depth",
                                   "Messages accepted and not finished (sync and async).")),
      queue_bytes_(registry_.gauge("smtp_sidecar_queue_bytes",
                                   "Bytes those messages hold, as counted against "
                                   "listen.max_queue_bytes.")),
      keeper_up_(
          registry_.gauge("smtp_sidecar_keeper_up",
                          "1 when the keeper answered this scrape (its figures follow), else 0.")),
      smtp_reachable_(registry_.gauge(
          "smtp_sidecar_smtp_reachable",
          "1 when the SMTP server was last reached with TLS verified (by the reachability "
          "probe or a send), else 0; /v1/ready is 503 while it is 0.")),
      probes_(registry_.counter("smtp_sidecar_smtp_probes_total",
                                "Reachability probes of the SMTP server (no mail, no AUTH), by "
                                "result (reached, unreachable).",
                                {"result"})) {
  // Every label set that can occur is shown from the start, at 0, so that rate() and
  // alerts see a series before its first event.
  for (const char* outcome : kOutcomes) {
    for (const char* mode : kModes) messages_.with({outcome, mode});
  }
  for (const char* c : kReplyClasses) {
    replies_.with({c});
    recipients_.with({c});
  }
  send_latency_.get();
  queue_depth_.get();
  queue_bytes_.get();
  keeper_up_.get();
  smtp_reachable_.get();
  probes_.with({"reached"});
  probes_.with({"unreachable"});
}

void WorkerMetrics::attempt(const relay::SendResult& sent,
                            std::chrono::steady_clock::duration took) {
  if (const char* c = replyClassOf(sent.reply.code)) replies_.with({c}).inc();
  for (const auto& r : sent.recipients) {
    if (const char* c = replyClassOf(r.reply.code)) recipients_.with({c}).inc();
  }
  send_latency_.get().observe(std::chrono::duration<double>(took).count());
}

void WorkerMetrics::finished(const submit::SubmitResult& result, Mode mode) {
  messages_.with({outcomeOf(result), toString(mode)}).inc();
}

void exportProfileStats(const std::map<std::string, profile::ProfileStats>& stats,
                        std::uint64_t peers_refused, metrics::Registry& r) {
  auto& accepted = r.counter("smtp_sidecar_profile_accepted_total",
                             "Submissions a profile's checks let through to sending.", {"profile"});
  auto& rate_limited = r.counter("smtp_sidecar_rate_limited_total",
                                 "Submissions refused (429 rate_limited) by a profile's rate "
                                 "limit.",
                                 {"profile"});
  auto& refused = r.counter("smtp_sidecar_profile_refusals_total",
                            "Submissions refused by a profile's other limits, by reason "
                            "(sender_not_allowed, too_many_recipients, too_large).",
                            {"profile", "reason"});
  for (const auto& [name, s] : stats) {
    accepted.with({name}).inc(static_cast<double>(s.accepted));
    rate_limited.with({name}).inc(static_cast<double>(s.rate_limited));
    refused.with({name, "sender_not_allowed"}).inc(static_cast<double>(s.sender_refused));
    refused.with({name, "too_many_recipients"}).inc(static_cast<double>(s.recipients_refused));
    refused.with({name, "too_large"}).inc(static_cast<double>(s.size_refused));
  }
  r.counter("smtp_sidecar_peers_refused_total",
            "Connections refused (403) because the peer's uid and gid match no profile.")
      .get()
      .inc(static_cast<double>(peers_refused));
}

// ---- the keeper's figures ----

void exportKeeperFigures(const KeeperFigures& f, metrics::Registry& r) {
  r.gauge("smtp_sidecar_leases_active",
          "SMTP credential leases the keeper holds (current and retiring).")
      .get()
      .set(static_cast<double>(f.leases_active));
  auto& expiry = r.gauge("smtp_sidecar_credential_expiry_seconds",
                         "Seconds until the current credential of a credential path expires "
                         "(0: none leased).",
                         {"path"});
  for (const auto& e : f.expiry) expiry.with({e.path}).set(static_cast<double>(e.seconds));
  if (f.secret_id_expiry_known) {
    r.gauge("smtp_sidecar_secret_id_expires_seconds",
            "Seconds until the AppRole secret_id the keeper logs in again with expires "
            "(absent: it does not expire, or its unwrap did not say).")
        .get()
        .set(static_cast<double>(f.secret_id_expires_seconds));
  }
  // Issue 14: how long mail can go on without Vault, and why it may not for long.
  const std::tuple<const char*, const char*, std::uint64_t> keeper_gauges[] = {
      {"smtp_sidecar_credential_valid_seconds",
       "Seconds the least-lasting current credential remains valid: how long sending goes "
       "on if Vault stops answering now (0: a path has none).",
       f.credential_valid_seconds},
      {"smtp_sidecar_vault_approle_locked_out",
       "1 while OpenBao's user lockout refuses this role_id's logins (no login is tried "
       "until it ends).",
       f.approle_locked_out},
      {"smtp_sidecar_vault_secret_id_rejected",
       "1 while Vault has refused the secret_id and the keeper waits for a new one.",
       f.secret_id_rejected},
      {"smtp_sidecar_vault_call_stalled",
       "1 while a Vault call has been running for over 5 s (answers to sends go on from "
       "the current credential).",
       f.vault_call_stalled},
  };
  for (const auto& [name, help, value] : keeper_gauges) {
    r.gauge(name, help).get().set(static_cast<double>(value));
  }
  r.counter("smtp_sidecar_vault_lockouts_total",
            "AppRole logins that OpenBao answered with its user lockout.")
      .get()
      .inc(static_cast<double>(f.lockouts_detected));
  r.counter("smtp_sidecar_vault_token_revocations_total",
            "Times the Vault token was found revoked from outside (403), each followed by a "
            "new login at once.")
      .get()
      .inc(static_cast<double>(f.token_revocations_detected));
  const std::pair<const char*, std::uint64_t> lease_counters[] = {
      {"smtp_sidecar_lease_renewals_total", f.lease_renewals},
      {"smtp_sidecar_lease_renewal_failures_total", f.lease_renewal_failures},
      {"smtp_sidecar_token_renewals_total", f.token_renewals},
      {"smtp_sidecar_token_renewal_failures_total", f.token_renewal_failures},
      {"smtp_sidecar_vault_logins_total", f.logins},
      {"smtp_sidecar_vault_login_failures_total", f.login_failures},
  };
  const char* helps[] = {
      "Credential lease renewals that Vault granted.",
      "Credential lease renewals that failed (retried with backoff).",
      "Vault token renewals that Vault granted.",
      "Vault token renewals that failed (retried with backoff).",
      "AppRole logins that succeeded (the first, and each before a token's max TTL).",
      "AppRole logins that failed.",
  };
  for (std::size_t i = 0; i < std::size(lease_counters); ++i) {
    r.counter(lease_counters[i].first, helps[i])
        .get()
        .inc(static_cast<double>(lease_counters[i].second));
  }
  auto& rotations = r.counter("smtp_sidecar_credential_rotations_total",
                              "New credentials leased in place of a current one, by reason "
                              "(max_ttl, token_max_ttl, token_revoked, refused).",
                              {"reason"});
  for (const char* reason : {"max_ttl", "token_max_ttl", "token_revoked", "refused"}) {
    rotations.with({reason});
  }
  for (const auto& n : f.rotations) rotations.with({n.name}).inc(static_cast<double>(n.count));
  auto& requests = r.counter("smtp_sidecar_vault_requests_total",
                             "HTTP requests to Vault (each attempt), by operation and status "
                             "class (error: no answer).",
                             {"operation", "status_class"});
  for (const auto& q : f.vault_requests) {
    requests.with({q.operation, q.status_class}).inc(static_cast<double>(q.count));
  }
  auto& latency = r.histogram("smtp_sidecar_vault_request_duration_seconds",
                              "Time of one HTTP request to Vault, by operation.", vaultBuckets(),
                              {"operation"});
  for (const auto& l : f.vault_latency) {
    (void)latency.with({l.operation})
        .merge(l.buckets, static_cast<double>(l.sum_microseconds) / 1e6);
  }
}

}  // namespace sidecar::telemetry
