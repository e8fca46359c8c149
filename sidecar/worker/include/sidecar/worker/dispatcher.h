// dispatcher.h: the worker's submit::Dispatcher: each message gets its profile's
// credential from the keeper link and goes out through the relay's AsyncSmtpSender;
// asynchronous messages are queued, retried (per recipient) and their status kept; with
// [spool], sealed and fsynced before their 202 and sent again after a restart.
//
// SECURITY: message bytes and envelopes arrive already checked by the intake; the
// credential is the keeper's, held by KeeperLink, and passed to the sender by shared
// pointer (never copied). One audit line per message at its final outcome, without
// body, recipient addresses or secrets (audit.h).
// ERRORS: submit::SubmitResult values; the queue limits (listen.max_queue messages,
// listen.max_queue_bytes bytes) make full() true, which the intake answers with 429
// and Retry-After (SMTP: 452) before it accepts anything.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "foundation/clock.h"
#include "sidecar/base/config.h"
#include "sidecar/intake/submit_server.h"
#include "sidecar/relay/asio_smtp_sender.h"
#include "sidecar/relay/smtp_reachability.h"
#include "sidecar/relay/smtp_readiness.h"
#include "sidecar/relay/smtp_sender.h"
#include "sidecar/spool/format.h"
#include "sidecar/spool/store.h"
#include "sidecar/worker/audit.h"
#include "sidecar/worker/keeper_link.h"
#include "sidecar/worker/sidecar_metrics.h"

namespace sidecar::worker {

// Sends on the event loop (AsyncSmtpSender) with the credential the keeper names for
// each message (an IPC round trip, no Vault request).
// On 535 it tells the keeper, which replaces the credential, and retries once.
// Asynchronous messages are retried on temporary failures with exponential backoff
// (foundation::Backoff: 1 s doubling to 60 s, each delay up to 20% shorter, so that
// many deferred messages do not retry in lockstep) until smtp.retry_for has passed; a recipient
// the server deferred (4xx) is retried alone, one it accepted is not sent to again.
// With [spool], an asynchronous message is sealed and fsynced (spool/store.h) before
// its 202, rewritten when some of its recipients were delivered, and replaced by its
// final status when it ends; a restarted worker sends what the spool holds.
// All members are used on the io thread only.
class WorkerDispatcher final : public submit::Dispatcher {
 public:
  WorkerDispatcher(asio::io_context& io, KeeperLink& keeper, const Config& config,
                   audit::Log& audit, telemetry::WorkerMetrics& metrics,
                   std::optional<spool::Store> store = std::nullopt)
      : io_(io),
        keeper_(keeper),
        metrics_(metrics),
        sender_(relay::makeAsioSmtpSender(io, config.smtp, config.smtp.max_connections)),
        max_queue_(config.listen.max_queue),
        max_queue_bytes_(config.listen.max_queue_bytes),
        retry_for_(config.smtp.retry_for),
        paths_(config.credentialPaths()),
        audit_(audit),
        spool_(std::move(store)),
        retention_(config.spool.retention),
        spool_timer_(io),
        retention_timer_(io),
        stop_timer_(io),
        smtp_readiness_(config.smtp.host, config.smtp.port) {
    if (spool_) {
      // Group commit: the spool's writes happen on its committer thread; their
      // answers come back to this io thread.
      spool_->startCommitter([&io](std::function<void()> fn) { asio::post(io, std::move(fn)); });
      sweepRetention();
    }
    startReachabilityProbe(config.smtp);
  }

  // The keeper link is up (again): a spool without its key asks for it now.
  void keeperConnected() { askSpoolKey(); }

  // Asynchronous messages not finished: on disk with a spool, lost without one.
  std::size_t asyncPending() const { return async_pending_; }
  bool spooled() const { return spool_.has_value(); }

  // What a stop must wait for: every send in progress. With a spool, a message waiting
  // for its next attempt is safe on disk and need not hold the stop up.
  std::size_t mustDrain() const;

  // SIGTERM: sends in progress get a short grace, then spooled messages are left to
  // the spool and waiting synchronous sends are answered 503 (dispatcher.cc).
  void stop();

  // SIGHUP: the credential paths as the keeper will number them.
  void setCredentialPaths(std::vector<std::string> paths) { paths_ = std::move(paths); }

  // The lease was revoked: close the connections logged in with it.
  void retire(const std::string& lease_id);

  // SIGHUP with new [smtp] settings: new messages go through a new sender; the old
  // one finishes what it has, then closes its connections.
  void reconfigure(const Config& config);

  void submit(submit::Origin origin, submit::Envelope envelope, std::string message,
              std::function<void(submit::SubmitResult)> done) override;

  void enqueue(submit::Origin origin, submit::Envelope envelope, std::string message,
               std::function<void(submit::EnqueueOutcome)> done) override;

  // The spool's group commit so far (bench/, metrics).
  spool::CommitterStats commitStats() const {
    return spool_ ? spool_->commitStats() : spool::CommitterStats{};
  }

  std::optional<submit::MessageStatus> status(const std::string& id) const override;

  // The worker's metrics and, when the keeper answers, the keeper's figures.
  void metrics(std::function<void(std::string)> done) override;

  // Adds the submission server's per-profile counters to each scrape.
  void setProfileMetrics(std::function<void(metrics::Registry&)> fn);

  // listen.max_queue messages, or listen.max_queue_bytes held by those accepted and
  // not finished (queued, waiting for a retry, or being sent) with this one added.
  bool full(std::size_t message_bytes, std::size_t recipients) const override;
  // Ready: a credential is there and the last attempt did reach the SMTP server.
  bool ready() const override { return keeper_.ready() && smtp_readiness_.ready(); }
  std::string notReadyReason() const override {
    if (!keeper_.ready()) {
      // The keeper's word first (approle_locked_out, vault_not_answering, ...), for
      // probes and scripts to match; then what it means.
      return keeper_.notReadyReason() +
             ": no valid SMTP credential from Vault (logging in, or Vault is unreachable)";
    }
    return smtp_readiness_.reason();
  }
  std::size_t inFlight() const { return in_flight_; }
  std::size_t heldBytes() const { return held_bytes_; }

 private:
  struct Job {
    submit::Origin origin;
    std::string lease_id;  // of the last attempt's credential
    submit::Envelope envelope;
    std::shared_ptr<const std::string> message;      // shared with the transfer
    std::function<void(submit::SubmitResult)> done;  // sync only
    std::string id;                                  // async only
    std::chrono::steady_clock::time_point deadline{};
    foundation::Backoff backoff{kRetryBackoff};
    std::size_t held_bytes = 0;  // counted against listen.max_queue_bytes (hold())
    std::unique_ptr<asio::steady_timer> retry_timer;
    // Async only: what the spool keeps (without the message, which is `message`):
    // every recipient with its state. The envelope holds the pending ones.
    spool::Record record;
    bool abandoned = false;  // a stop stopped waiting for its attempt (stop())
  };
  static constexpr std::size_t kKeepFinished = 10000;  // statuses kept after the end
  static constexpr foundation::BackoffPolicy kRetryBackoff{std::chrono::seconds(1),
                                                           std::chrono::seconds(60), 2.0, 0.2};
  // What a message holds besides its bytes (job, status, envelope): counted so that
  // many tiny messages are bounded too; a recipient at most (an address is at most
  // 254 octets, plus its string). full() and hold() count the same.
  static constexpr std::size_t kBytesPerMessage = 1024;
  static constexpr std::size_t kBytesPerRecipient = 320;
  static std::size_t heldBytes(std::size_t message_bytes, std::size_t recipients);
  void hold(Job& job);
  void release(const Job& job);

  void start(const std::shared_ptr<Job>& job);

  void setState(const Job& job, submit::MessageState state);

  void attempt(std::shared_ptr<Job> job, bool retry_left);

  // Outside any sender's call stack (posted): an idle old sender can go.
  void pruneOldSenders();

  static bool isTemporary(const submit::SubmitResult& r);

  // One audit line per message, for its final outcome.
  void writeAudit(const Job& job, const submit::SubmitResult& result);

  void finish(const std::shared_ptr<Job>& job, submit::SubmitResult result);

  void scheduleRetry(const std::shared_ptr<Job>& job, std::chrono::steady_clock::time_point now,
                     std::chrono::milliseconds delay);

  // ---- the SMTP server's reachability (dispatcher_reachability.cc) ----
  // A probe (no AUTH) once the first credential is there, and again while no send
  // reached the server recently; /v1/ready is not ready until one of them has.
  void startReachabilityProbe(const SmtpSettings& smtp);
  void probed(const relay::SmtpProbeResult& result);
  // After a send: readiness from its outcome; a send that reached the server defers
  // the next probe.
  void recordSendReadiness(const relay::SendResult& sent);
  void readinessChanged();

  // ---- per recipient, retention, Idempotency-Key, the spool (dispatcher.cc) ----
  static bool applyRecipients(Job& job, const submit::SubmitResult& result);
  static void noteLastAttempt(spool::Record& record, const submit::SubmitResult& result);
  void rememberFinished(const std::string& id, std::uint64_t finished_unix_ms);
  static std::string idempotencyScope(const submit::Origin& origin);
  void rememberIdempotencyKey(const std::string& scope, const std::string& id,
                              const std::string& digest);
  void committed(const std::shared_ptr<Job>& job, const std::string& scope,
                 foundation::Status stored, std::function<void(submit::EnqueueOutcome)> done);
  void accepted(const std::shared_ptr<Job>& job, const std::string& scope);
  void forgetOldestFinished();
  void sweepRetention();
  void askSpoolKey();
  void retrySpoolKey();
  // A new data key replaces one Transit lost: the old generation goes to set-aside/
  // (Store::setAside), then the new key is written. False: nothing changed, try later.
  bool startNewGeneration(const std::string& new_wrapped);
  void recover();
  static submit::MessageStatus statusOf(const spool::Record& record);
  spool::Record recordOf(const Job& job, std::uint64_t now_ms) const;
  void exportSpool(metrics::Registry& registry) const;
  void exportSenderStats(metrics::Registry& registry) const;
  static std::uint64_t unixMsNow();

  asio::io_context& io_;
  KeeperLink& keeper_;
  telemetry::WorkerMetrics& metrics_;
  std::function<void(metrics::Registry&)> profile_metrics_;
  std::unique_ptr<relay::AsyncSmtpSender> sender_;
  std::vector<std::unique_ptr<relay::AsyncSmtpSender>> old_senders_;
  relay::SenderStats earlier_sender_stats_;  // of the senders a reload replaced
  std::size_t max_queue_;
  std::size_t max_queue_bytes_;
  std::size_t held_bytes_ = 0;
  std::chrono::seconds retry_for_;
  std::size_t in_flight_ = 0;
  std::map<std::string, submit::MessageStatus> statuses_;
  std::map<std::string, std::chrono::steady_clock::time_point> next_attempt_;
  std::deque<std::pair<std::string, std::uint64_t>> finished_;  // id, finished (Unix ms)
  std::vector<std::string> paths_;  // Config::credentialPaths(): the keeper's numbering
  audit::Log& audit_;
  std::optional<spool::Store> spool_;        // [spool] configured
  std::optional<spool::DataKey> spool_key_;  // from the keeper (Transit); locked memory
  bool asking_spool_key_ = false;
  // The wrapped key in `datakey` that Transit said it can never decrypt: the next
  // request asks for a new key, and its generation is set aside once there is one.
  std::optional<std::string> lost_wrapped_;
  std::string lost_reason_;  // Transit's words, for the set-aside log line
  std::chrono::seconds retention_;
  asio::steady_timer spool_timer_;
  asio::steady_timer retention_timer_;
  asio::steady_timer stop_timer_;
  bool stopping_ = false;
  std::size_t writing_ = 0;                 // accepted messages on their way to the spool
  std::set<std::shared_ptr<Job>> sending_;  // an attempt in progress
  std::size_t async_pending_ = 0;
  struct FirstSubmission {
    std::string id;
    std::string digest;  // of its request (empty: a version 1 spool record)
  };
  std::map<std::string, FirstSubmission> idempotent_;  // profile + key -> the first
  // Keys whose first message is being written: later requests wait for its answer.
  struct Committing {
    std::string digest;
    std::vector<std::function<void(submit::EnqueueOutcome)>> waiting;
  };
  std::map<std::string, Committing> committing_;
  std::map<std::string, std::string> scope_of_;  // message id -> its profile + key
  relay::SmtpReadiness smtp_readiness_;          // from the attempts' outcomes and the probe's
  SmtpSettings probe_settings_;                  // the [smtp] the probe checks (for its words)
  std::unique_ptr<relay::SmtpReachabilityProbe> reachability_;
};

}  // namespace sidecar::worker
