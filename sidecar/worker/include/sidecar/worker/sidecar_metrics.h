// sidecar_metrics.h: the sidecar's metric families: the worker's (messages, SMTP
// replies, queue, send latency, rate limiting) and the keeper's figures (leases,
// credential expiry, renewals, rotations, logins, Vault requests), which travel to the
// worker over ipc.h as typed fields and are rendered there for `GET /metrics` (the keeper
// counts its Vault requests in sidecar/keeper/vault_requests.h).
//
// SECURITY: labels are fixed words (outcomes, operations, reasons), profile names and
// credential paths from the configuration; never an address, a lease id, a Vault path
// ERRORS: none; a figure past its list limit (kMaxFigureEntries) is dropped.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sidecar/base/metrics.h"
#include "sidecar/intake/profile.h"
#include "sidecar/intake/submit_server.h"
#include "sidecar/ipc/keeper_figures.h"

namespace sidecar::telemetry {

// ---- the worker's metrics ----

enum class Mode { Sync, Async };
const char* toString(Mode mode) noexcept;

// The outcome label of a finished message: sent, partially_sent, rejected,
// auth_refused, tls_failed, temporary_failure, no_credential.
const char* outcomeOf(const submit::SubmitResult& result) noexcept;
// "2xx", "3xx", "4xx", "5xx" for an SMTP reply code, nullptr for none (0) or nonsense.
const char* replyClassOf(int code) noexcept;

// The buckets of the send latency histogram (seconds): an SMTP transaction on a kept
// connection takes milliseconds, a new TLS login a few hundred, a slow server seconds.
const std::vector<double>& sendLatencyBuckets();

class WorkerMetrics {
 public:
  WorkerMetrics();
  metrics::Registry& registry() { return registry_; }

  // One SMTP attempt ended (before any retry): its reply classes and its duration.
  void attempt(const relay::SendResult& sent, std::chrono::steady_clock::duration took);
  // A message is finished: the client has its answer (sync) or it left the queue
  // (async: sent, or failed for good).
  void finished(const submit::SubmitResult& result, Mode mode);
  void setQueueDepth(std::size_t depth) { queue_depth_.get().set(static_cast<double>(depth)); }
  void setQueueBytes(std::size_t bytes) { queue_bytes_.get().set(static_cast<double>(bytes)); }
  void setKeeperUp(bool up) { keeper_up_.get().set(up ? 1 : 0); }
  // Whether the SMTP server was last found reachable (probe or send), and each probe.
  void setSmtpReachable(bool reachable) { smtp_reachable_.get().set(reachable ? 1 : 0); }
  void probed(bool reached) { probes_.with({reached ? "reached" : "unreachable"}).inc(); }

 private:
  metrics::Registry registry_;
  metrics::CounterFamily& messages_;
  metrics::CounterFamily& replies_;
  metrics::CounterFamily& recipients_;
  metrics::HistogramFamily& send_latency_;
  metrics::GaugeFamily& queue_depth_;
  metrics::GaugeFamily& queue_bytes_;
  metrics::GaugeFamily& keeper_up_;
  metrics::GaugeFamily& smtp_reachable_;
  metrics::CounterFamily& probes_;
};

// The per-profile counters the submission server keeps (submit::SubmitServer::
// profileStats) as families in `registry`: smtp_sidecar_rate_limited_total{profile}
// and the other refusals and acceptances; `peers_refused`: connections whose peer
// matched no profile.
void exportProfileStats(const std::map<std::string, profile::ProfileStats>& stats,
                        std::uint64_t peers_refused, metrics::Registry& registry);

// ---- the keeper's figures ----

// The keeper's families in `registry`, filled from `figures` (a fresh registry per
// scrape: the keeper's counters are totals already).
void exportKeeperFigures(const KeeperFigures& figures, metrics::Registry& registry);

}  // namespace sidecar::telemetry
