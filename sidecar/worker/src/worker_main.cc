// worker_main.cc: the worker role: the submission socket, SMTP sending, and the
// keeper link through which it obtains one credential per send.
//
// SECURITY: faces local clients (every request is parsed by submit_request.h /
// submit_json.h) and the SMTP server. It never sees the Vault token. Each send asks
// the keeper for its profile's credential; the worker keeps one locked copy of each
// credential path's current credential, shared by the sends using it (libcurl holds
// the same login for its pooled connections anyway), and destroys (zeroes) it when the
// keeper hands out another, retires that lease, or the link drops. A malformed keeper message ends
// this process.
// ERRORS: HTTP answers to clients; exit 1 on a broken keeper link protocol (the
// supervisor restarts the worker, and the socket it inherited keeps queueing clients).
#include <malloc.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "foundation/random.h"
#include "sidecar/base/log.h"
#include "sidecar/intake/submit_server.h"
#include "sidecar/ipc/fd_passing.h"
#include "sidecar/ipc/ipc.h"
#include "sidecar/ipc/roles.h"
#include "sidecar/relay/smtp_readiness.h"
#include "sidecar/relay/smtp_sender.h"
#include "sidecar/worker/audit.h"
#include "sidecar/worker/sidecar_metrics.h"
#include "sidecar/worker/worker.h"

namespace sidecar {
namespace {

namespace asio = boost::asio;
constexpr auto kDrainDeadline = std::chrono::seconds(20);
constexpr auto kCredentialTimeout = std::chrono::seconds(10);
constexpr auto kMetricsTimeout = std::chrono::seconds(2);  // a scrape must not hang
constexpr std::size_t kMaxPendingMetrics = 16;

// The worker's end of the keeper channel. All members are used on the io thread only.
class KeeperLink {
 public:
  using Credential = std::shared_ptr<const ipc::SmtpCredential>;
  using CredentialCallback = std::function<void(Credential)>;  // nullptr: none
  using MetricsCallback = std::function<void(std::optional<telemetry::KeeperFigures>)>;

  explicit KeeperLink(asio::io_context& io) : io_(io), sweep_timer_(io) { sweep(); }

  // Adopts a new channel from the supervisor; pending requests on the old one fail.
  void connect(int fd) {
    disconnect();
    channel_ = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
    if (ipc::encodeHello(out_)) (void)ipc::sendPacket(fd, out_);
    waitForMessage();
  }

  bool ready() const { return channel_ != nullptr && keeper_ready_; }

  // The credential of `path`, which is entry `path_index` of the credential paths.
  // Sends that ask for the same path while a request for it is on its way wait for
  // the same answer: one request in flight per path, however many messages arrive at
  // once. (One request per message used to fill the channel's buffer under a burst of
  // submissions: the send failed with EAGAIN and the message was answered "no
  // credential".) The answer is the keeper's credential at a moment after each
  // waiting send asked.
  void requestCredential(std::uint32_t path_index, std::string path, CredentialCallback callback) {
    if (!channel_) return callback(nullptr);
    if (auto joined = in_flight_.find(path); joined != in_flight_.end()) {
      auto it = pending_.find(joined->second);
      if (it != pending_.end()) {
        it->second.callbacks.push_back(std::move(callback));
        return;
      }
    }
    const std::uint32_t id = next_request_id_++;
    if (!ipc::encodeCredentialRequest(id, path_index, out_) ||
        !ipc::sendPacket(channel_->native_handle(), out_)) {
      return callback(nullptr);
    }
    Pending pending{{}, path, std::chrono::steady_clock::now() + kCredentialTimeout};
    pending.callbacks.push_back(std::move(callback));
    pending_.emplace(id, std::move(pending));
    in_flight_[std::move(path)] = id;
  }

  // The keeper's figures for GET /metrics; nullopt when it does not answer in time.
  void requestMetrics(MetricsCallback callback) {
    // Scrapes are cheap for the keeper, but a client opening many at once while the
    // keeper is slow must not pile up requests: past kMaxPendingMetrics, no figures.
    if (!channel_ || pending_metrics_.size() >= kMaxPendingMetrics) return callback(std::nullopt);
    const std::uint32_t id = next_request_id_++;
    if (!ipc::encodeMetricsRequest(id, out_) || !ipc::sendPacket(channel_->native_handle(), out_)) {
      return callback(std::nullopt);
    }
    pending_metrics_.emplace(
        id,
        PendingMetrics{std::move(callback), std::chrono::steady_clock::now() + kMetricsTimeout});
  }

  void reportRefused(const std::string& lease_id) {
    if (channel_ && ipc::encodeLease(ipc::MessageType::CredentialRefused, {lease_id, 0}, out_)) {
      (void)ipc::sendPacket(channel_->native_handle(), out_);
    }
  }

 private:
  struct Pending {
    std::vector<CredentialCallback> callbacks;  // every send waiting for this answer
    std::string path;                           // the answer must come from this path
    std::chrono::steady_clock::time_point deadline;
  };
  struct PendingMetrics {
    MetricsCallback callback;
    std::chrono::steady_clock::time_point deadline;
  };
  // The credential held for one path: shared by the sends using it.
  struct Held {
    Credential credential;
    std::uint64_t generation = 0;
  };

  static void answer(Pending& pending, const Credential& credential) {
    for (auto& callback : pending.callbacks) callback(credential);
  }

  // One timer for all requests (not one per message): fails requests the keeper has
  // not answered in time.
  void sweep() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      auto pending = std::move(it->second);
      forgetInFlight(pending.path, it->first);
      it = pending_.erase(it);
      log::warn("credential_request_timeout");
      answer(pending, nullptr);
    }
    for (auto it = pending_metrics_.begin(); it != pending_metrics_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      auto callback = std::move(it->second.callback);
      it = pending_metrics_.erase(it);
      log::warn("metrics_request_timeout");
      callback(std::nullopt);
    }
    sweep_timer_.expires_after(std::chrono::seconds(1));
    sweep_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) sweep();
    });
  }

  void waitForMessage() {
    channel_->async_wait(asio::posix::stream_descriptor::wait_read,
                         [this, channel = channel_.get()](boost::system::error_code ec) {
                           if (ec || channel != channel_.get()) return;
                           onReadable();
                         });
  }

  void onReadable() {
    int fd = -1;
    if (!ipc::receivePacket(channel_->native_handle(), in_, fd)) {
      if (errno == EAGAIN) return waitForMessage();
      log::warn("keeper_link_closed");
      return disconnect();
    }
    if (fd >= 0) {
      ::close(fd);
      fatal("the keeper sent a file descriptor");
    }
    const bool ok = dispatch(in_.view());
    in_.wipe();  // a credential message: its bytes now live only in the held copy
    if (!ok) fatal("malformed keeper message");
    waitForMessage();
  }

  bool dispatch(std::string_view wire) {
    ipc::Reader r(wire);
    if (!r.header()) return false;
    switch (r.type()) {
      case ipc::MessageType::Hello:
        return ipc::decodeHello(r);
      case ipc::MessageType::Status: {
        ipc::StatusMessage status;
        if (!ipc::decodeStatus(r, status)) return false;
        keeper_ready_ = status.ready;
        return true;
      }
      case ipc::MessageType::Credential: {
        // Read in place: the credential is copied into new locked memory only when it
        // differs from the one held for its path (a new lease), not for every send.
        ipc::CredentialView m;
        if (!ipc::decodeCredentialView(r, m)) return false;
        auto it = pending_.find(r.requestId());
        if (it == pending_.end()) return true;  // timed out already
        // Worker and keeper reload the config on their own: if the index named another
        // path on the keeper's side, this credential is not the profile's. Never use it.
        if (it->second.path != m.credential_path) {
          log::warn("credential_path_mismatch",
                    {{"expected", it->second.path}, {"got", m.credential_path}});
          complete(r.requestId(), nullptr);
          return true;
        }
        Held& held = held_[m.credential_path];
        if (!holds(held, m)) {
          held.credential = std::make_shared<const ipc::SmtpCredential>(ipc::SmtpCredential{
              foundation::SecretBytes::copyOf(m.username),
              foundation::SecretBytes::copyOf(m.password), m.lease_id, m.credential_path});
          held.generation = m.generation;
        }
        complete(r.requestId(), held.credential);
        return true;
      }
      case ipc::MessageType::NoCredential: {
        ipc::NoCredentialMessage m;
        if (!ipc::decodeNoCredential(r, m)) return false;
        complete(r.requestId(), nullptr);
        return true;
      }
      case ipc::MessageType::Metrics: {
        telemetry::KeeperFigures figures;
        if (!ipc::decodeMetrics(r, figures)) return false;
        auto it = pending_metrics_.find(r.requestId());
        if (it == pending_metrics_.end()) return true;  // timed out already
        auto callback = std::move(it->second.callback);
        pending_metrics_.erase(it);
        callback(std::move(figures));
        return true;
      }
      case ipc::MessageType::CredentialRetired: {
        ipc::LeaseMessage m;
        if (!ipc::decodeLease(r, m)) return false;
        // Its lease is revoked: close the SMTP connections logged in with it (after
        // the sends still running on them), and let go of the copy held.
        log::info("credential_retired", {{"lease_id", m.lease_id}});
        std::erase_if(held_, [&](const auto& entry) {
          return entry.second.credential && entry.second.credential->lease_id == m.lease_id;
        });
        if (on_retired_) on_retired_(m.lease_id);
        return true;
      }
      default:
        return false;
    }
  }

  // The keeper's answer is the credential already held: same lease and generation,
  // and (constant-time) the same bytes, so nothing depends on how generations count.
  static bool holds(const Held& held, const ipc::CredentialView& m) {
    return held.credential && held.credential->lease_id == m.lease_id &&
           held.generation == m.generation && held.credential->username.equals(m.username) &&
           held.credential->password.equals(m.password);
  }

  void forgetInFlight(const std::string& path, std::uint32_t id) {
    auto it = in_flight_.find(path);
    if (it != in_flight_.end() && it->second == id) in_flight_.erase(it);
  }

  void complete(std::uint32_t id, const Credential& credential) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;  // timed out already
    auto pending = std::move(it->second);
    pending_.erase(it);
    forgetInFlight(pending.path, id);
    answer(pending, credential);
  }

  void disconnect() {
    keeper_ready_ = false;
    held_.clear();  // a restarted keeper leases anew
    if (channel_) {
      boost::system::error_code ignored;
      channel_->close(ignored);
      channel_.reset();
    }
    auto pending = std::move(pending_);
    pending_.clear();
    in_flight_.clear();
    for (auto& [id, p] : pending) answer(p, nullptr);
    auto pending_metrics = std::move(pending_metrics_);
    pending_metrics_.clear();
    for (auto& [id, p] : pending_metrics) p.callback(std::nullopt);
  }

  [[noreturn]] void fatal(const char* what) {
    log::error("worker_fatal", {{"error", what}});
    std::_Exit(1);
  }

  asio::io_context& io_;
  std::unique_ptr<asio::posix::stream_descriptor> channel_;
  asio::steady_timer sweep_timer_;
  std::map<std::uint32_t, Pending> pending_;
  std::map<std::uint32_t, PendingMetrics> pending_metrics_;
  std::map<std::string, std::uint32_t> in_flight_;  // path -> the request sends may join
  std::map<std::string, Held> held_;                // by credential path
  ipc::Packet in_;  // reused for every message: no allocation per request
  ipc::Packet out_;
  std::uint32_t next_request_id_ = 1;
  bool keeper_ready_ = false;
  std::function<void(const std::string&)> on_retired_;

 public:
  void onRetired(std::function<void(const std::string&)> fn) { on_retired_ = std::move(fn); }
};

// Sends on the event loop (AsyncSmtpSender) with the credential the keeper names for
// each message (an IPC round trip, no Vault request).
// On 535 it tells the keeper, which replaces the credential, and retries once.
// Asynchronous messages are retried on temporary failures with exponential backoff
// (1 s doubling to 60 s, +-20% jitter) until smtp.retry_for has passed.
// All members except pool_ are used on the io thread only.
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
        audit_(audit),
        smtp_readiness_(config.smtp.host, config.smtp.port) {}

  // SIGHUP: the credential paths as the keeper will number them.
  void setCredentialPaths(std::vector<std::string> paths) { paths_ = std::move(paths); }

  // The lease was revoked: close the connections logged in with it.
  void retire(const std::string& lease_id) {
    sender_->retire(lease_id);
    for (auto& old : old_senders_) old->retire(lease_id);
  }

  // SIGHUP with new [smtp] settings: new messages go through a new sender; the old
  // one finishes what it has, then closes its connections.
  void reconfigure(const Config& config) {
    old_senders_.push_back(std::move(sender_));
    sender_ = relay::makeCurlMultiSmtpSender(io_, config.smtp, config.smtp.max_connections);
    max_queue_ = config.listen.max_queue;
    retry_for_ = config.smtp.retry_for;
    smtp_readiness_ = relay::SmtpReadiness(config.smtp.host, config.smtp.port);
  }

  void submit(submit::Origin origin, submit::Envelope envelope, std::string message,
              std::function<void(submit::SubmitResult)> done) override {
    auto job = std::make_shared<Job>();
    job->origin = std::move(origin);
    job->envelope = std::move(envelope);
    job->message = std::make_shared<const std::string>(std::move(message));
    job->done = std::move(done);
    start(job);
  }

  std::optional<std::string> enqueue(submit::Origin origin, submit::Envelope envelope,
                                     std::string message) override {
    if (full()) return std::nullopt;
    auto job = std::make_shared<Job>();
    job->origin = std::move(origin);
    job->envelope = std::move(envelope);
    job->message = std::make_shared<const std::string>(std::move(message));
    job->id = foundation::randomHex(16);
    job->deadline = std::chrono::steady_clock::now() + retry_for_;
    statuses_[job->id] = submit::MessageStatus{};
    statuses_[job->id].profile = job->origin.profile;
    start(job);
    return job->id;
  }

  std::optional<submit::MessageStatus> status(const std::string& id) const override {
    auto it = statuses_.find(id);
    if (it == statuses_.end()) return std::nullopt;
    submit::MessageStatus s = it->second;
    if (s.state == submit::MessageState::Retrying) {
      s.next_attempt_in_seconds =
          std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(
                                        next_attempt_.at(id) - std::chrono::steady_clock::now())
                                        .count());
    }
    return s;
  }

  // The worker's metrics and, when the keeper answers, the keeper's figures.
  void metrics(std::function<void(std::string)> done) override {
    metrics_.setQueueDepth(in_flight_);
    keeper_.requestMetrics(
        [this, done = std::move(done)](std::optional<telemetry::KeeperFigures> figures) {
          metrics_.setKeeperUp(figures.has_value());
          std::string text = metrics_.registry().render();
          // Fresh per scrape: the profile counters and the keeper's figures are totals.
          metrics::Registry totals;
          if (profile_metrics_) profile_metrics_(totals);
          if (figures) telemetry::exportKeeperFigures(*figures, totals);
          text += totals.render();
          done(std::move(text));
        });
  }

  // Adds the submission server's per-profile counters to each scrape.
  void setProfileMetrics(std::function<void(metrics::Registry&)> fn) {
    profile_metrics_ = std::move(fn);
  }

  bool full() const override { return in_flight_ >= max_queue_; }
  // Ready: a credential is there and the last attempt did reach the SMTP server.
  bool ready() const override { return keeper_.ready() && smtp_readiness_.ready(); }
  std::string notReadyReason() const override {
    if (!keeper_.ready()) {
      return "no SMTP credential from Vault yet (logging in, or Vault is unreachable)";
    }
    return smtp_readiness_.reason();
  }
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

  void start(const std::shared_ptr<Job>& job) {
    ++in_flight_;
    attempt(job, /*retry_left=*/true);
  }

  void setState(const Job& job, submit::MessageState state) {
    if (!job.id.empty()) statuses_[job.id].state = state;
  }

  void attempt(std::shared_ptr<Job> job, bool retry_left) {
    setState(*job, submit::MessageState::Sending);
    // The profile's path, numbered as now configured (a reload may have moved it).
    const auto path = std::find(paths_.begin(), paths_.end(), job->origin.credential_path);
    if (path == paths_.end()) {
      log::warn("credential_path_not_configured", {{"path", job->origin.credential_path}});
      submit::SubmitResult result;
      result.no_credential = true;
      return finish(job, std::move(result));
    }
    const auto index = static_cast<std::uint32_t>(path - paths_.begin());
    keeper_.requestCredential(
        index, *path, [this, job, retry_left](KeeperLink::Credential credential) mutable {
          if (!credential) {
            submit::SubmitResult result;
            result.no_credential = true;
            return finish(job, std::move(result));
          }
          const auto started = std::chrono::steady_clock::now();
          const std::string lease_id = credential->lease_id;
          job->lease_id = lease_id;
          sender_->send(
              job->envelope, job->message, std::move(credential),
              [this, job, retry_left, lease_id, started](relay::SendResult sent) {
                const auto took = std::chrono::steady_clock::now() - started;
                metrics_.attempt(sent, took);
                if (smtp_readiness_.record(sent)) {
                  if (smtp_readiness_.ready()) {
                    log::info("smtp_reachable", {{"detail", "the SMTP server answered again"}});
                  } else {
                    log::warn("smtp_unreachable", {{"reason", smtp_readiness_.reason()}});
                  }
                }
                const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
                log::info("message_sent", {{"id", job->id},
                                           {"profile", job->origin.profile},
                                           {"outcome", relay::toString(sent.outcome)},
                                           {"smtp_code", sent.reply.code},
                                           {"recipients", job->envelope.recipients.size()},
                                           {"bytes", job->message->size()},
                                           {"lease_id", lease_id},
                                           {"duration_ms", static_cast<std::int64_t>(ms)},
                                           {"detail", sent.detail}});
                if (sent.outcome == relay::SendOutcome::AuthRefused && retry_left) {
                  keeper_.reportRefused(lease_id);
                  return attempt(job, false);
                }
                submit::SubmitResult result;
                result.send = std::move(sent);
                finish(job, std::move(result));
                if (!old_senders_.empty()) asio::post(io_, [this] { pruneOldSenders(); });
              });
        });
  }

  // Outside any sender's call stack (posted): an idle old sender can go.
  void pruneOldSenders() {
    std::erase_if(old_senders_,
                  [](const auto& s) { return s->active() == 0 && s->waiting() == 0; });
  }

  static bool isTemporary(const submit::SubmitResult& r) {
    return r.no_credential || r.send.outcome == relay::SendOutcome::TemporaryFailure ||
           r.send.outcome == relay::SendOutcome::AuthRefused;
  }

  // One audit line per message, for its final outcome.
  void writeAudit(const Job& job, const submit::SubmitResult& result) {
    audit::Record r;
    r.time = std::chrono::system_clock::now();
    r.uid = job.origin.peer.uid;
    r.pid = job.origin.peer.pid;
    r.profile = job.origin.profile;
    r.id = job.id;
    r.sender = job.envelope.from;
    r.recipients = job.envelope.recipients.size();
    r.bytes = job.message->size();
    r.message_id = job.origin.message_id;
    r.outcome = result.no_credential ? "no_credential" : relay::toString(result.send.outcome);
    r.smtp_code = result.no_credential ? 0 : result.send.reply.code;
    r.smtp_text = result.no_credential ? std::string() : result.send.reply.text;
    r.lease_id = result.no_credential ? std::string() : job.lease_id;
    audit_.write(r);
  }

  void finish(const std::shared_ptr<Job>& job, submit::SubmitResult result) {
    if (job->id.empty()) {  // synchronous: the client gets this attempt's result
      metrics_.finished(result, telemetry::Mode::Sync);
      writeAudit(*job, result);
      job->done(std::move(result));
      --in_flight_;
      return;
    }
    auto& status = statuses_[job->id];
    ++status.attempts;
    const bool temporary = isTemporary(result);
    status.last = std::move(result);
    const auto now = std::chrono::steady_clock::now();
    if (temporary && now + job->backoff < job->deadline) {
      status.state = submit::MessageState::Retrying;
      scheduleRetry(job, now);
      return;
    }
    status.state =
        status.last.send.outcome == relay::SendOutcome::Accepted && !status.last.no_credential
            ? submit::MessageState::Sent
            : submit::MessageState::Failed;
    metrics_.finished(status.last, telemetry::Mode::Async);
    writeAudit(*job, status.last);
    log::info("message_finished", {{"id", job->id},
                                   {"status", submit::toString(status.state)},
                                   {"attempts", status.attempts}});
    next_attempt_.erase(job->id);
    finished_.push_back(job->id);
    while (finished_.size() > kKeepFinished) {
      statuses_.erase(finished_.front());
      finished_.pop_front();
    }
    --in_flight_;
  }

  void scheduleRetry(const std::shared_ptr<Job>& job, std::chrono::steady_clock::time_point now) {
    // +-20% jitter so that many deferred messages do not retry in lockstep.
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(static_cast<double>(job->backoff.count()) * jitter(rng_)));
    next_attempt_[job->id] = now + delay;
    job->backoff = std::min(job->backoff * 2, std::chrono::seconds(60));
    job->retry_timer = std::make_unique<asio::steady_timer>(io_, delay);
    job->retry_timer->async_wait([this, job](boost::system::error_code ec) {
      if (ec) return;
      attempt(job, true);
    });
  }

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
  relay::SmtpReadiness smtp_readiness_;
};

// Every message allocates libcurl's per-transfer buffers (an easy handle, a 64 KiB
// upload buffer, a 128 KiB SMTP escape buffer). With glibc's defaults the top of the
// heap is given back (brk) when a message ends and faulted in again, page by page, for
// the next one. Keeping up to 8 MiB of free heap and serving blocks below 1 MiB from
// the heap stops that churn; the memory stays with this process, as it would be
// needed again for the next message anyway.
void keepHeapForMessages() {
  if (::mallopt(M_TRIM_THRESHOLD, 8 << 20) != 1 || ::mallopt(M_MMAP_THRESHOLD, 1 << 20) != 1) {
    log::warn("mallopt_failed");  // only slower
  }
}

}  // namespace

int runWorker(const Config& config, const std::string& config_path) {
  keepHeapForMessages();
  asio::io_context io;
  audit::Log audit;
  if (auto s = audit.open(config.audit.file); !s) {
    log::error("worker_start_failed", {{"error", s.error().message}});
    return 1;
  }
  KeeperLink keeper(io);
  telemetry::WorkerMetrics metrics;
  WorkerDispatcher dispatcher(io, keeper, config, audit, metrics);
  keeper.onRetired([&dispatcher](const std::string& lease_id) { dispatcher.retire(lease_id); });
  submit::SubmitServer server(io, config.listen, config.profiles, dispatcher);
  dispatcher.setProfileMetrics([&server](metrics::Registry& registry) {
    telemetry::exportProfileStats(server.profileStats(), server.peersRefused(), registry);
  });
  if (auto s = server.adopt(kListenFd); !s) {
    log::error("worker_start_failed", {{"error", s.error().message}});
    return 1;
  }

  // The supervisor hands over the keeper channel (again after a keeper restart).
  asio::posix::stream_descriptor control(io, kControlFd);
  ipc::Packet control_packet;
  std::function<void()> wait_control = [&] {
    control.async_wait(asio::posix::stream_descriptor::wait_read,
                       [&](boost::system::error_code ec) {
                         if (ec) return;
                         int fd = -1;
                         if (!ipc::receivePacket(kControlFd, control_packet, fd)) {
                           log::info("supervisor_gone");
                           return io.stop();
                         }
                         ipc::Reader r(control_packet.view());
                         std::uint64_t generation = 0;
                         if (!r.header() || !ipc::decodePeerChannel(r, generation) || fd < 0) {
                           log::error("worker_fatal", {{"error", "malformed control message"}});
                           std::_Exit(1);
                         }
                         keeper.connect(fd);
                         wait_control();
                       });
  };
  wait_control();

  // SIGHUP (forwarded by the supervisor once the file validated): apply what can
  // change while running; the socket path needs a restart.
  Config current = config;
  asio::signal_set hangups(io, SIGHUP);
  std::function<void()> wait_hangup = [&] {
    hangups.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      auto fresh = loadConfig(config_path, config.vault.secret_id_from_environment);
      if (!fresh) {
        log::error("config_reload_refused", {{"error", fresh.error().message}});
        return wait_hangup();
      }
      log::setMinimumLevel(fresh->process.log_level);
      const auto changed = changedKeys(current, *fresh);
      bool smtp_changed = false;
      bool profiles_changed = false;
      for (const auto& key : changed) {
        if (key.rfind("smtp.", 0) == 0 || key == "listen.max_queue") {
          smtp_changed = true;
        } else if (key == "listen.max_message_bytes" || key == "profile" ||
                   key == "vault.credential_path") {
          profiles_changed = true;  // the profiles' limits and paths derive from these
        } else if (key.rfind("listen.", 0) == 0) {
          log::warn("config_restart_required", {{"key", key}});
        }
      }
      if (smtp_changed) dispatcher.reconfigure(*fresh);
      if (profiles_changed) {
        server.setProfiles(fresh->profiles);
        dispatcher.setCredentialPaths(fresh->credentialPaths());
      }
      // Reopened on every SIGHUP: after log rotation the old file was moved away.
      if (auto s = audit.reopen(fresh->audit.file); !s) {
        log::error("audit_reopen_failed", {{"error", s.error().message}});
      }
      current = std::move(*fresh);
      log::info("worker_reloaded", {{"changed", static_cast<std::int64_t>(changed.size())}});
      wait_hangup();
    });
  };
  wait_hangup();

  asio::signal_set signals(io, SIGTERM, SIGINT);
  asio::steady_timer drain_timer(io);
  auto drain_deadline = std::chrono::steady_clock::now();
  std::function<void()> wait_for_drain = [&] {
    if (dispatcher.inFlight() == 0 || std::chrono::steady_clock::now() > drain_deadline) {
      return io.stop();
    }
    drain_timer.expires_after(std::chrono::milliseconds(50));
    drain_timer.async_wait([&](boost::system::error_code) { wait_for_drain(); });
  };
  signals.async_wait([&](boost::system::error_code ec, int signo) {
    if (ec) return;
    log::info("worker_stopping", {{"signal", signo}, {"in_flight", dispatcher.inFlight()}});
    server.close();
    drain_deadline = std::chrono::steady_clock::now() + kDrainDeadline;
    wait_for_drain();
  });

  log::info("worker_ready", {{"socket", config.listen.socket_path}});
  io.run();
  return 0;
}

}  // namespace sidecar
