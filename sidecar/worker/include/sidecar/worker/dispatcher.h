// dispatcher.h: the worker's submit::Dispatcher: each message gets its profile's
// credential from the keeper link and goes out through the relay's AsyncSmtpSender;
// asynchronous messages are queued, retried and their status kept.
//
// SECURITY: message bytes and envelopes arrive already checked by the intake; the
// credential is the keeper's, held by KeeperLink, and passed to the sender by shared
// pointer (never copied). One audit line per message at its final outcome, without
// body, recipient addresses or secrets (audit.h).
// ERRORS: submit::SubmitResult values; the queue limit (listen.max_queue) makes full()
// true, which the intake answers with 429.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sidecar/base/config.h"
#include "sidecar/intake/submit_server.h"
#include "sidecar/relay/smtp_sender.h"
#include "sidecar/worker/audit.h"
#include "sidecar/worker/keeper_link.h"
#include "sidecar/worker/sidecar_metrics.h"

namespace sidecar::worker {

// Sends on the event loop (AsyncSmtpSender) with the credential the keeper names for
// each message (an IPC round trip, no Vault request).
// On 535 it tells the keeper, which replaces the credential, and retries once.
// Asynchronous messages are retried on temporary failures with exponential backoff
// (1 s doubling to 60 s, +-20% jitter) until smtp.retry_for has passed.
// All members are used on the io thread only.
class WorkerDispatcher final : public submit::Dispatcher {
 public:
  WorkerDispatcher(asio::io_context& io, KeeperLink& keeper, const Config& config,
                   audit::Log& audit, telemetry::WorkerMetrics& metrics)
      : io_(io),
        keeper_(keeper),
        metrics_(metrics),
        sender_(relay::makeCurlMultiSmtpSender(io, config.smtp, config.smtp.max_connections)),
        max_queue_(config.listen.max_queue),
        retry_for_(config.smtp.retry_for),
        paths_(config.credentialPaths()),
        audit_(audit) {}

  // SIGHUP: the credential paths as the keeper will number them.
  void setCredentialPaths(std::vector<std::string> paths) { paths_ = std::move(paths); }

  // The lease was revoked: close the connections logged in with it.
  void retire(const std::string& lease_id);

  // SIGHUP with new [smtp] settings: new messages go through a new sender; the old
  // one finishes what it has, then closes its connections.
  void reconfigure(const Config& config);

  void submit(submit::Origin origin, submit::Envelope envelope, std::string message,
              std::function<void(submit::SubmitResult)> done) override;

  std::optional<std::string> enqueue(submit::Origin origin, submit::Envelope envelope,
                                     std::string message) override;

  std::optional<submit::MessageStatus> status(const std::string& id) const override;

  // The worker's metrics and, when the keeper answers, the keeper's figures.
  void metrics(std::function<void(std::string)> done) override;

  // Adds the submission server's per-profile counters to each scrape.
  void setProfileMetrics(std::function<void(metrics::Registry&)> fn);

  bool full() const override { return in_flight_ >= max_queue_; }
  bool ready() const override { return keeper_.ready(); }
  std::size_t inFlight() const { return in_flight_; }

 private:
  struct Job {
    submit::Origin origin;
    std::string lease_id;  // of the last attempt's credential
    submit::Envelope envelope;
    std::shared_ptr<const std::string> message;      // shared with the transfer
    std::function<void(submit::SubmitResult)> done;  // sync only
    std::string id;                                  // async only
    std::chrono::steady_clock::time_point deadline{};
    std::chrono::seconds backoff{1};
    std::unique_ptr<asio::steady_timer> retry_timer;
  };
  static constexpr std::size_t kKeepFinished = 10000;  // statuses kept after the end

  void start(const std::shared_ptr<Job>& job);

  void setState(const Job& job, submit::MessageState state);

  void attempt(std::shared_ptr<Job> job, bool retry_left);

  // Outside any sender's call stack (posted): an idle old sender can go.
  void pruneOldSenders();

  static bool isTemporary(const submit::SubmitResult& r);

  // One audit line per message, for its final outcome.
  void writeAudit(const Job& job, const submit::SubmitResult& result);

  void finish(const std::shared_ptr<Job>& job, submit::SubmitResult result);

  void scheduleRetry(const std::shared_ptr<Job>& job, std::chrono::steady_clock::time_point now);

  asio::io_context& io_;
  KeeperLink& keeper_;
  telemetry::WorkerMetrics& metrics_;
  std::function<void(metrics::Registry&)> profile_metrics_;
  std::unique_ptr<relay::AsyncSmtpSender> sender_;
  std::vector<std::unique_ptr<relay::AsyncSmtpSender>> old_senders_;
  std::size_t max_queue_;
  std::chrono::seconds retry_for_;
  std::size_t in_flight_ = 0;
  std::map<std::string, submit::MessageStatus> statuses_;
  std::map<std::string, std::chrono::steady_clock::time_point> next_attempt_;
  std::deque<std::string> finished_;
  std::mt19937 rng_{std::random_device{}()};
  std::vector<std::string> paths_;  // Config::credentialPaths(): the keeper's numbering
  audit::Log& audit_;
};

}  // namespace sidecar::worker
