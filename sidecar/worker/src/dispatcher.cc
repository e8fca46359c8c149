// dispatcher.cc: see dispatcher.h.
//
// SECURITY: see dispatcher.h; nothing here parses client input.
// ERRORS: SubmitResult values for every outcome; no exceptions.
#include "sidecar/worker/dispatcher.h"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "foundation/random.h"
#include "sidecar/base/log.h"
#include "sidecar/spool/format.h"

namespace sidecar::worker {
namespace {

constexpr auto kSpoolKeyRetry = std::chrono::seconds(2);  // while Vault or Transit is away
constexpr auto kRetentionSweep = std::chrono::seconds(60);

}  // namespace

void WorkerDispatcher::retire(const std::string& lease_id) {
  sender_->retire(lease_id);
  for (auto& old : old_senders_) old->retire(lease_id);
}

void WorkerDispatcher::reconfigure(const Config& config) {
  old_senders_.push_back(std::move(sender_));
  sender_ = relay::makeAsioSmtpSender(io_, config.smtp, config.smtp.max_connections);
  max_queue_ = config.listen.max_queue;
  max_queue_bytes_ = config.listen.max_queue_bytes;
  retry_for_ = config.smtp.retry_for;
  smtp_readiness_ = relay::SmtpReadiness(config.smtp.host, config.smtp.port);
}

void WorkerDispatcher::submit(submit::Origin origin, submit::Envelope envelope, std::string message,
                              std::function<void(submit::SubmitResult)> done) {
  auto job = std::make_shared<Job>();
  job->origin = std::move(origin);
  job->envelope = std::move(envelope);
  job->message = std::make_shared<const std::string>(std::move(message));
  job->done = std::move(done);
  start(job);
}

std::optional<std::string> WorkerDispatcher::enqueue(submit::Origin origin,
                                                     submit::Envelope envelope,
                                                     std::string message) {
  refusal_ = {};
  const std::string scope = idempotencyScope(origin);
  if (!scope.empty()) {
    if (auto first = idempotent_.find(scope); first != idempotent_.end()) {
      log::info("idempotent_replay", {{"id", first->second}, {"profile", origin.profile}});
      return first->second;
    }
  }
  if (full(message.size(), envelope.recipients.size())) return std::nullopt;
  auto job = std::make_shared<Job>();
  job->origin = std::move(origin);
  job->envelope = std::move(envelope);
  job->id = foundation::randomHex(16);
  job->deadline = std::chrono::steady_clock::now() + retry_for_;
  job->record = recordOf(*job, unixMsNow());
  if (spool_) {
    // 202 only once the message is on disk, sealed: a crash after this loses nothing.
    if (!spool_key_) {
      refusal_ = {503, "spool_unavailable",
                  "the spool's data key is not available yet (Vault); try again shortly", 5};
      return std::nullopt;
    }
    // The sealed size: the message, its envelope, and the fixed fields.
    const std::size_t estimate = message.size() + 1024 + 16 * job->envelope.recipients.size();
    if (!spool_->hasRoom(estimate)) {
      refusal_ = {429, "spool_full", "the spool is full; try again later", 30};
      return std::nullopt;
    }
    job->record.message = std::move(message);
    auto stored = spool_->put(job->record, *spool_key_);
    message = std::move(job->record.message);
    job->record.message.clear();
    if (!stored) {
      log::error("spool_write_failed", {{"error", stored.error().message}});
      refusal_ = {503, "spool_unavailable", "the spool cannot store the message now", 10};
      return std::nullopt;
    }
  }
  job->message = std::make_shared<const std::string>(std::move(message));
  statuses_[job->id] = submit::MessageStatus{};
  statuses_[job->id].profile = job->origin.profile;
  rememberIdempotencyKey(scope, job->id);
  ++async_pending_;
  start(job);
  return job->id;
}

std::optional<submit::MessageStatus> WorkerDispatcher::status(const std::string& id) const {
  auto it = statuses_.find(id);
  if (it == statuses_.end()) return std::nullopt;
  submit::MessageStatus s = it->second;
  if (auto next = next_attempt_.find(id);
      s.state == submit::MessageState::Retrying && next != next_attempt_.end()) {
    s.next_attempt_in_seconds =
        std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(
                                      next->second - std::chrono::steady_clock::now())
                                      .count());
  }
  return s;
}

void WorkerDispatcher::metrics(std::function<void(std::string)> done) {
  metrics_.setQueueDepth(in_flight_);
  metrics_.setQueueBytes(held_bytes_);
  keeper_.requestMetrics(
      [this, done = std::move(done)](std::optional<telemetry::KeeperFigures> figures) {
        metrics_.setKeeperUp(figures.has_value());
        std::string text = metrics_.registry().render();
        // Fresh per scrape: the profile counters and the keeper's figures are totals.
        metrics::Registry totals;
        if (profile_metrics_) profile_metrics_(totals);
        if (spool_) exportSpool(totals);
        if (figures) telemetry::exportKeeperFigures(*figures, totals);
        text += totals.render();
        done(std::move(text));
      });
}

void WorkerDispatcher::setProfileMetrics(std::function<void(metrics::Registry&)> fn) {
  profile_metrics_ = std::move(fn);
}

std::size_t WorkerDispatcher::heldBytes(std::size_t message_bytes, std::size_t recipients) {
  return message_bytes + kBytesPerMessage + recipients * kBytesPerRecipient;
}

void WorkerDispatcher::hold(Job& job) {
  job.held_bytes = heldBytes(job.message->size(), job.envelope.recipients.size());
  ++in_flight_;
  held_bytes_ += job.held_bytes;
}

void WorkerDispatcher::release(const Job& job) {
  --in_flight_;
  held_bytes_ -= std::min(job.held_bytes, held_bytes_);
}

bool WorkerDispatcher::full(std::size_t message_bytes, std::size_t recipients) const {
  if (in_flight_ >= max_queue_) return true;
  // An empty queue takes any message the size limit allows (max_queue_bytes is at least
  // max_message_bytes), so nothing is refused for ever.
  return in_flight_ > 0 && heldBytes(message_bytes, recipients) >
                               max_queue_bytes_ - std::min(held_bytes_, max_queue_bytes_);
}

void WorkerDispatcher::start(const std::shared_ptr<Job>& job) {
  hold(*job);
  attempt(job, /*retry_left=*/true);
}

void WorkerDispatcher::setState(const Job& job, submit::MessageState state) {
  if (!job.id.empty()) statuses_[job.id].state = state;
}

void WorkerDispatcher::attempt(std::shared_ptr<Job> job, bool retry_left) {
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

void WorkerDispatcher::pruneOldSenders() {
  std::erase_if(old_senders_, [](const auto& s) { return s->active() == 0 && s->waiting() == 0; });
}

bool WorkerDispatcher::isTemporary(const submit::SubmitResult& r) {
  return r.no_credential || r.send.outcome == relay::SendOutcome::TemporaryFailure ||
         r.send.outcome == relay::SendOutcome::AuthRefused;
}

void WorkerDispatcher::writeAudit(const Job& job, const submit::SubmitResult& result) {
  audit::Record r;
  r.time = std::chrono::system_clock::now();
  r.uid = job.origin.peer.uid;
  r.pid = job.origin.peer.pid;
  r.profile = job.origin.profile;
  r.id = job.id;
  r.sender = job.envelope.from;
  r.recipients =
      job.record.recipients.empty() ? job.envelope.recipients.size() : job.record.recipients.size();
  r.bytes = job.message->size();
  r.message_id = job.origin.message_id;
  r.outcome = result.no_credential ? "no_credential" : relay::toString(result.send.outcome);
  r.smtp_code = result.no_credential ? 0 : result.send.reply.code;
  r.smtp_text = result.no_credential ? std::string() : result.send.reply.text;
  r.lease_id = result.no_credential ? std::string() : job.lease_id;
  audit_.write(r);
}

void WorkerDispatcher::finish(const std::shared_ptr<Job>& job, submit::SubmitResult result) {
  if (job->id.empty()) {  // synchronous: the client gets this attempt's result
    metrics_.finished(result, telemetry::Mode::Sync);
    writeAudit(*job, result);
    job->done(std::move(result));
    release(*job);
    return;
  }
  auto& status = statuses_[job->id];
  ++status.attempts;
  const bool delivered_some = applyRecipients(*job, result);
  const bool some_pending = !job->envelope.recipients.empty();
  const bool temporary =
      isTemporary(result) || (some_pending && result.send.outcome == relay::SendOutcome::Accepted);
  job->record.attempts = status.attempts;
  noteLastAttempt(job->record, result);
  status.last = std::move(result);
  const auto now = std::chrono::steady_clock::now();
  const auto delay = job->backoff.next();
  if (temporary && some_pending && now + delay < job->deadline) {
    status.state = submit::MessageState::Retrying;
    job->record.state = spool::State::Retrying;
    // Recipients delivered since the last write must not be sent to again after a
    // crash: the file is rewritten (rare: a partial delivery).
    if (spool_ && spool_key_ && delivered_some) {
      job->record.message = *job->message;
      auto stored = spool_->put(job->record, *spool_key_);
      job->record.message.clear();
      if (!stored) log::error("spool_write_failed", {{"error", stored.error().message}});
    }
    scheduleRetry(job, now, delay);
    return;
  }
  // The end: recipients still deferred have failed for good.
  bool any_delivered = false;
  for (auto& rcpt : job->record.recipients) {
    if (rcpt.state == spool::RecipientState::Pending) rcpt.state = spool::RecipientState::Failed;
    any_delivered = any_delivered || rcpt.state == spool::RecipientState::Delivered;
  }
  status.state = any_delivered && !status.last.no_credential ? submit::MessageState::Sent
                                                             : submit::MessageState::Failed;
  metrics_.finished(status.last, telemetry::Mode::Async);
  writeAudit(*job, status.last);
  log::info(
      "message_finished",
      {{"id", job->id}, {"status", submit::toString(status.state)}, {"attempts", status.attempts}});
  next_attempt_.erase(job->id);
  const std::uint64_t finished_at = unixMsNow();
  if (spool_ && spool_key_) {
    spool::Record done = job->record;
    done.kind = spool::Kind::Finished;
    done.state =
        status.state == submit::MessageState::Sent ? spool::State::Sent : spool::State::Failed;
    done.finished_unix_ms = finished_at;
    // A failure here leaves the message file: a restart sends it again (the
    // duplicate window of docs/OPERATIONS.md).
    if (auto s = spool_->finish(done, *spool_key_); !s) {
      log::error("spool_finish_failed", {{"id", job->id}, {"error", s.error().message}});
    }
  }
  rememberFinished(job->id, finished_at);
  --async_pending_;
  release(*job);
}

// The last attempt's replies, per recipient: 2xx delivered, 5xx failed, 4xx (and
// no answer) still pending; the envelope keeps the pending ones for the next
// attempt. True when a recipient was delivered by this attempt.
bool WorkerDispatcher::applyRecipients(Job& job, const submit::SubmitResult& result) {
  if (result.no_credential) return false;
  const auto& sent = result.send;
  bool delivered = false;
  auto findPending = [&](const std::string& address) -> spool::Recipient* {
    for (auto& r : job.record.recipients) {
      if (r.state == spool::RecipientState::Pending && r.address == address) return &r;
    }
    return nullptr;
  };
  if (sent.outcome == relay::SendOutcome::Accepted) {
    if (sent.recipients.empty()) {  // no per-recipient replies: all were taken
      for (const auto& address : job.envelope.recipients) {
        if (auto* r = findPending(address)) {
          r->state = spool::RecipientState::Delivered;
          r->last_code = static_cast<std::uint16_t>(sent.reply.code);
          delivered = true;
        }
      }
    }
    for (const auto& reply : sent.recipients) {
      auto* r = findPending(reply.address);
      if (r == nullptr) continue;
      r->last_code = static_cast<std::uint16_t>(std::clamp(reply.reply.code, 0, 599));
      if (reply.reply.isPositive()) {
        r->state = spool::RecipientState::Delivered;
        delivered = true;
      } else if (reply.reply.isPermanent()) {
        r->state = spool::RecipientState::Failed;
      }
    }
  } else if (sent.outcome == relay::SendOutcome::Rejected ||
             sent.outcome == relay::SendOutcome::TlsFailure) {
    for (auto& r : job.record.recipients) {
      if (r.state == spool::RecipientState::Pending) {
        r.state = spool::RecipientState::Failed;
        r.last_code = static_cast<std::uint16_t>(std::clamp(sent.reply.code, 0, 599));
      }
    }
  }
  job.envelope.recipients.clear();
  for (const auto& r : job.record.recipients) {
    if (r.state == spool::RecipientState::Pending) job.envelope.recipients.push_back(r.address);
  }
  return delivered;
}

void WorkerDispatcher::noteLastAttempt(spool::Record& record, const submit::SubmitResult& result) {
  record.last_outcome =
      result.no_credential ? "no_credential" : relay::toString(result.send.outcome);
  record.last_code = static_cast<std::uint16_t>(std::clamp(result.send.reply.code, 0, 599));
  record.last_text = result.send.reply.text.substr(0, 4096);
}

void WorkerDispatcher::rememberFinished(const std::string& id, std::uint64_t finished_unix_ms) {
  finished_.push_back({id, finished_unix_ms});
  while (finished_.size() > kKeepFinished) forgetOldestFinished();
}

// The key is the client's word within its profile: another profile's identical key
// is another message.
std::string WorkerDispatcher::idempotencyScope(const submit::Origin& origin) {
  if (origin.idempotency_key.empty()) return {};
  return origin.profile + '\n' + origin.idempotency_key;
}

void WorkerDispatcher::rememberIdempotencyKey(const std::string& scope, const std::string& id) {
  if (scope.empty()) return;
  idempotent_[scope] = id;
  scope_of_[id] = scope;
}

void WorkerDispatcher::forgetOldestFinished() {
  const std::string id = finished_.front().first;
  finished_.pop_front();
  statuses_.erase(id);
  if (auto scope = scope_of_.find(id); scope != scope_of_.end()) {
    idempotent_.erase(scope->second);
    scope_of_.erase(scope);
  }
  if (spool_) {
    if (auto s = spool_->forget(id); !s) {
      log::warn("spool_forget_failed", {{"id", id}, {"error", s.error().message}});
    }
  }
}

// Finished statuses older than spool.retention_seconds go (memory and disk).
void WorkerDispatcher::sweepRetention() {
  const std::uint64_t now = unixMsNow();
  const auto keep_ms = static_cast<std::uint64_t>(retention_.count()) * 1000;
  while (!finished_.empty() && finished_.front().second + keep_ms < now) forgetOldestFinished();
  retention_timer_.expires_after(kRetentionSweep);
  retention_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) sweepRetention();
  });
}

// ---- the spool's key and what a restart finds ----

void WorkerDispatcher::askSpoolKey() {
  if (!spool_ || spool_key_ || asking_spool_key_ || !keeper_.connected()) return;
  auto wrapped = spool_->readWrappedKey();
  if (!wrapped) {
    log::error("spool_key_file_unreadable", {{"error", wrapped.error().message}});
    return retrySpoolKey();
  }
  if (!wrapped->has_value() && spool_->holdsMessages()) {
    // Never make a new key for a spool that holds files sealed under the old one:
    // they would all be quarantined. A person must restore the datakey file.
    log::error("spool_key_missing", {{"directory", spool_->directory()}});
    return retrySpoolKey();
  }
  asking_spool_key_ = true;
  const std::string asked = wrapped->value_or(std::string());
  keeper_.requestSpoolKey(asked, [this, asked](std::optional<KeeperLink::SpoolKey> key) {
    asking_spool_key_ = false;
    if (!key) return retrySpoolKey();
    if (!asked.empty() && key->wrapped != asked) {
      log::error("spool_key_mismatch");
      return retrySpoolKey();
    }
    if (asked.empty()) {
      if (auto s = spool_->writeWrappedKey(key->wrapped); !s) {
        log::error("spool_key_write_failed", {{"error", s.error().message}});
        return retrySpoolKey();
      }
    }
    spool::DataKey data_key;
    data_key.key = std::move(key->key);
    data_key.id = spool::keyIdOf(key->wrapped);
    spool_key_ = std::move(data_key);
    recover();
  });
}

void WorkerDispatcher::retrySpoolKey() {
  spool_timer_.expires_after(kSpoolKeyRetry);
  spool_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) askSpoolKey();
  });
}

// Every message the spool holds is sent (again); every finished status answers.
void WorkerDispatcher::recover() {
  auto loaded = spool_->load(*spool_key_);
  for (const auto& q : loaded.quarantined) {
    log::error("spool_file_quarantined", {{"file", q.file}, {"reason", q.reason}});
  }
  for (const auto& e : loaded.errors) log::error("spool_load_error", {{"error", e}});
  std::sort(loaded.finished.begin(), loaded.finished.end(),
            [](const auto& a, const auto& b) { return a.finished_unix_ms < b.finished_unix_ms; });
  for (auto& record : loaded.finished) {
    if (statuses_.count(record.id) != 0) continue;
    statuses_[record.id] = statusOf(record);
    rememberIdempotencyKey(idempotencyScope({{}, record.profile, {}, {}, record.idempotency_key}),
                           record.id);
    rememberFinished(record.id, record.finished_unix_ms);
  }
  const std::uint64_t now_ms = unixMsNow();
  const auto now = std::chrono::steady_clock::now();
  std::size_t resumed = 0;
  for (auto& record : loaded.pending) {
    if (statuses_.count(record.id) != 0) continue;  // already ours (never: one load)
    auto job = std::make_shared<Job>();
    job->id = record.id;
    job->origin.profile = record.profile;
    job->origin.credential_path = record.credential_path;
    job->origin.peer.uid = record.uid;
    job->origin.peer.pid = static_cast<decltype(job->origin.peer.pid)>(record.pid);
    job->origin.message_id = record.message_id;
    job->origin.idempotency_key = record.idempotency_key;
    rememberIdempotencyKey(idempotencyScope(job->origin), record.id);
    job->envelope.from = record.from;
    for (const auto& r : record.recipients) {
      if (r.state == spool::RecipientState::Pending) job->envelope.recipients.push_back(r.address);
    }
    // Wall-clock deadline to steady time; a message whose retry period ended while
    // the sidecar was down still gets one attempt.
    const auto left = std::chrono::milliseconds(
        record.deadline_unix_ms > now_ms ? record.deadline_unix_ms - now_ms : 0);
    job->deadline = now + left;
    job->message = std::make_shared<const std::string>(std::move(record.message));
    record.message.clear();
    job->record = std::move(record);
    submit::MessageStatus status;
    status.profile = job->origin.profile;
    status.attempts = job->record.attempts;
    statuses_[job->id] = std::move(status);
    if (job->envelope.recipients.empty()) {
      // Every recipient ended before the crash: only the final write was missing.
      submit::SubmitResult none;
      none.send.outcome = relay::SendOutcome::Accepted;
      ++async_pending_;
      hold(*job);
      finish(job, std::move(none));
      continue;
    }
    ++async_pending_;
    ++resumed;
    start(job);
  }
  log::info("spool_recovered",
            {{"pending", static_cast<std::int64_t>(resumed)},
             {"finished", static_cast<std::int64_t>(loaded.finished.size())},
             {"quarantined", static_cast<std::int64_t>(loaded.quarantined.size())}});
}

submit::MessageStatus WorkerDispatcher::statusOf(const spool::Record& record) {
  submit::MessageStatus s;
  s.state = record.state == spool::State::Sent ? submit::MessageState::Sent
                                               : submit::MessageState::Failed;
  s.attempts = record.attempts;
  s.profile = record.profile;
  s.last.no_credential = record.last_outcome == "no_credential";
  for (auto outcome :
       {relay::SendOutcome::Accepted, relay::SendOutcome::Rejected, relay::SendOutcome::AuthRefused,
        relay::SendOutcome::TemporaryFailure, relay::SendOutcome::TlsFailure}) {
    if (record.last_outcome == relay::toString(outcome)) s.last.send.outcome = outcome;
  }
  s.last.send.reply.code = record.last_code;
  s.last.send.reply.text = record.last_text;
  for (const auto& r : record.recipients) {
    relay::RecipientReply reply;
    reply.address = r.address;
    reply.reply.code = r.last_code;
    s.last.send.recipients.push_back(std::move(reply));
  }
  return s;
}

spool::Record WorkerDispatcher::recordOf(const Job& job, std::uint64_t now_ms) const {
  spool::Record r;
  r.kind = spool::Kind::Message;
  r.id = job.id;
  r.state = spool::State::Queued;
  r.accepted_unix_ms = now_ms;
  r.deadline_unix_ms = now_ms + static_cast<std::uint64_t>(retry_for_.count()) * 1000;
  r.profile = job.origin.profile;
  r.credential_path = job.origin.credential_path;
  r.uid = job.origin.peer.uid;
  r.pid = static_cast<std::uint32_t>(job.origin.peer.pid);
  r.message_id = job.origin.message_id.substr(0, 998);
  r.idempotency_key = job.origin.idempotency_key;
  r.from = job.envelope.from;
  for (const auto& address : job.envelope.recipients) {
    r.recipients.push_back({address, spool::RecipientState::Pending, 0});
  }
  return r;
}

void WorkerDispatcher::exportSpool(metrics::Registry& registry) const {
  registry.gauge("smtp_sidecar_spool_messages", "Messages in the spool, not yet finished")
      .get()
      .set(static_cast<double>(spool_->messages()));
  registry.gauge("smtp_sidecar_spool_bytes", "Bytes of the spool's sealed message files")
      .get()
      .set(static_cast<double>(spool_->bytes()));
  registry
      .gauge("smtp_sidecar_spool_ready",
             "1 when the spool has its data key and takes asynchronous messages")
      .get()
      .set(spool_key_ ? 1.0 : 0.0);
  registry
      .counter("smtp_sidecar_spool_quarantined_total",
               "Spool files moved to quarantine/ (truncated, corrupt, tampered, other key)")
      .get()
      .inc(static_cast<double>(spool_->quarantinedTotal()));
}

std::uint64_t WorkerDispatcher::unixMsNow() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

void WorkerDispatcher::scheduleRetry(const std::shared_ptr<Job>& job,
                                     std::chrono::steady_clock::time_point now,
                                     std::chrono::milliseconds delay) {
  next_attempt_[job->id] = now + delay;
  job->retry_timer = std::make_unique<asio::steady_timer>(io_, delay);
  job->retry_timer->async_wait([this, job](boost::system::error_code ec) {
    if (ec) return;
    attempt(job, true);
  });
}

std::size_t WorkerDispatcher::mustDrain() const {
  if (!spool_) return in_flight_;
  std::size_t waiting = 0;
  for (const auto& [id, status] : statuses_) {
    waiting += status.state == submit::MessageState::Retrying ||
                       status.state == submit::MessageState::Queued
                   ? 1
                   : 0;
  }
  return in_flight_ - std::min(waiting, in_flight_);
}

}  // namespace sidecar::worker
