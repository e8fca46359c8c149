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
constexpr auto kStopGrace = std::chrono::seconds(1);  // for sends in progress at a stop

}  // namespace

void WorkerDispatcher::retire(const std::string& lease_id) {
  sender_->retire(lease_id);
  for (auto& old : old_senders_) old->retire(lease_id);
}

void WorkerDispatcher::reconfigure(const Config& config) {
  const relay::SenderStats before = sender_->stats();
  earlier_sender_stats_.pipelined += before.pipelined;
  earlier_sender_stats_.on_idle_connection += before.on_idle_connection;
  earlier_sender_stats_.on_new_connection += before.on_new_connection;
  earlier_sender_stats_.connections_opened += before.connections_opened;
  old_senders_.push_back(std::move(sender_));
  sender_ = relay::makeAsioSmtpSender(io_, config.smtp, config.smtp.max_connections);
  max_queue_ = config.listen.max_queue;
  max_queue_bytes_ = config.listen.max_queue_bytes;
  retry_for_ = config.smtp.retry_for;
  smtp_readiness_ = relay::SmtpReadiness(config.smtp.host, config.smtp.port);
  startReachabilityProbe(config.smtp);
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

void WorkerDispatcher::enqueue(submit::Origin origin, submit::Envelope envelope,
                               std::string message,
                               std::function<void(submit::EnqueueOutcome)> done) {
  auto refuse = [&done](submit::EnqueueRefusal why) {
    done(submit::EnqueueOutcome{std::nullopt, std::move(why)});
  };
  const std::string scope = idempotencyScope(origin);
  if (!scope.empty()) {
    // A retry under the same key is the same submission, or it is refused: a key sent
    // again with other content is a client bug that must not send the wrong mail.
    const std::string* first_digest = nullptr;
    std::string first_id;
    if (auto first = idempotent_.find(scope); first != idempotent_.end()) {
      first_digest = &first->second.digest;
      first_id = first->second.id;
    } else if (auto committing = committing_.find(scope); committing != committing_.end()) {
      first_digest = &committing->second.digest;
    }
    if (first_digest != nullptr && !first_digest->empty() &&
        *first_digest != origin.request_digest) {
      log::warn("idempotency_key_reused", {{"profile", origin.profile}});
      return refuse({422, "idempotency_key_reused",
                     "this Idempotency-Key came with a different request before (other "
                     "envelope or message); a new message needs a new key",
                     0});
    }
    if (!first_id.empty()) {
      log::info("idempotent_replay", {{"id", first_id}, {"profile", origin.profile}});
      return done(submit::EnqueueOutcome{first_id, {}});
    }
    if (first_digest != nullptr) {  // the first is still on its way to the disk
      committing_[scope].waiting.push_back(std::move(done));
      return;
    }
  }
  if (full(message.size(), envelope.recipients.size())) return refuse({});
  auto job = std::make_shared<Job>();
  job->origin = std::move(origin);
  job->envelope = std::move(envelope);
  job->id = foundation::randomHex(16);
  job->deadline = std::chrono::steady_clock::now() + retry_for_;
  job->record = recordOf(*job, unixMsNow());
  if (!spool_) {
    job->message = std::make_shared<const std::string>(std::move(message));
    accepted(job, scope);
    return done(submit::EnqueueOutcome{job->id, {}});
  }
  // 202 only once the message is on disk, sealed: a crash after that loses nothing.
  if (!spool_key_) {
    return refuse({503, "spool_unavailable",
                   "the spool's data key is not available yet (Vault); try again shortly", 5});
  }
  // The sealed size: the message, its envelope, and the fixed fields.
  const std::size_t estimate = message.size() + 1024 + 16 * job->envelope.recipients.size();
  if (!spool_->hasRoom(estimate)) {
    return refuse({429, "spool_full", "the spool is full; try again later", 30});
  }
  // In flight from now (the queue bound counts it while it is written).
  ++in_flight_;
  ++writing_;
  if (!scope.empty()) committing_[scope].digest = job->origin.request_digest;
  // The group commit: written with the messages that arrive while the disk is busy,
  // answered when its batch is durable; the event loop goes on meanwhile.
  job->record.message = std::move(message);
  spool_->putAsync(job->record, *spool_key_,
                   [this, job, scope, done = std::move(done)](foundation::Status stored) mutable {
                     asio::post(io_, [this, job, scope, done = std::move(done),
                                      stored = std::move(stored)]() mutable {
                       committed(job, scope, std::move(stored), std::move(done));
                     });
                   });
  job->message = std::make_shared<const std::string>(std::move(job->record.message));
  job->record.message.clear();
}

// The message's batch is durable (or failed): answer it, and whoever waited on its key.
void WorkerDispatcher::committed(const std::shared_ptr<Job>& job, const std::string& scope,
                                 foundation::Status stored,
                                 std::function<void(submit::EnqueueOutcome)> done) {
  std::vector<std::function<void(submit::EnqueueOutcome)>> waiting;
  if (auto it = committing_.find(scope); !scope.empty() && it != committing_.end()) {
    waiting = std::move(it->second.waiting);
    committing_.erase(it);
  }
  submit::EnqueueOutcome outcome;
  --in_flight_;
  --writing_;
  if (stored) {
    accepted(job, scope);
    outcome.id = job->id;
  } else {
    log::error("spool_write_failed", {{"error", stored.error().message}});
    outcome.refusal = {503, "spool_unavailable", "the spool cannot store the message now", 10};
  }
  done(outcome);
  for (auto& wait : waiting) wait(outcome);
}

// Accepted (with a spool: durable): known to GET /v1/messages/{id}, and sent.
void WorkerDispatcher::accepted(const std::shared_ptr<Job>& job, const std::string& scope) {
  statuses_[job->id] = submit::MessageStatus{};
  statuses_[job->id].profile = job->origin.profile;
  rememberIdempotencyKey(scope, job->id, job->origin.request_digest);
  ++async_pending_;
  start(job);
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
        exportSenderStats(totals);
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
  sending_.insert(job);
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
        sender_->send(job->envelope, job->message, std::move(credential),
                      [this, job, retry_left, lease_id, started](relay::SendResult sent) {
                        const auto took = std::chrono::steady_clock::now() - started;
                        metrics_.attempt(sent, took);
                        recordSendReadiness(sent);
                        const auto ms =
                            std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
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
  sending_.erase(job);
  // A stop gave up waiting for this attempt (stop()): it no longer counts as in flight.
  const bool abandoned = job->abandoned;
  if (job->id.empty()) {    // synchronous: the client gets this attempt's result
    if (abandoned) return;  // it was answered 503 when the stop abandoned it
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
      spool_->putAsync(job->record, *spool_key_, [](foundation::Status stored) {
        if (!stored) log::error("spool_write_failed", {{"error", stored.error().message}});
      });
      job->record.message.clear();
    }
    // Stopping with a spool: the next attempt is the next start's (the file is there).
    if (!(stopping_ && spool_)) scheduleRetry(job, now, delay);
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
    spool_->finishAsync(done, *spool_key_, [id = job->id](foundation::Status s) {
      if (!s) log::error("spool_finish_failed", {{"id", id}, {"error", s.error().message}});
    });
  }
  rememberFinished(job->id, finished_at);
  --async_pending_;
  if (!abandoned) release(*job);
}

// SIGTERM: sends in progress get kStopGrace to end on their own (a transfer on an open
// connection takes milliseconds); then a spooled message's attempt is abandoned (its
// file stays for the next start: nothing lost) and a synchronous send still waiting
// (e.g. for a connection while the server is down) is answered 503 at once. Only
// asynchronous messages without a spool are drained to the worker's deadline: in
// memory, they would be lost.
void WorkerDispatcher::stop() {
  if (stopping_) return;
  stopping_ = true;
  stop_timer_.expires_after(kStopGrace);
  stop_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    std::size_t answered = 0;
    std::size_t kept = 0;
    for (const auto& job : std::vector<std::shared_ptr<Job>>(sending_.begin(), sending_.end())) {
      if (job->abandoned || (!job->id.empty() && !spool_)) continue;
      job->abandoned = true;
      release(*job);
      if (!job->id.empty()) {
        ++kept;
        continue;
      }
      ++answered;
      submit::SubmitResult result;
      result.send.outcome = relay::SendOutcome::TemporaryFailure;
      result.send.detail = "the sidecar is stopping; the message was not sent, submit it again";
      metrics_.finished(result, telemetry::Mode::Sync);
      writeAudit(*job, result);
      auto done = std::move(job->done);
      done(std::move(result));
    }
    if (answered + kept > 0) {
      log::info("stop_abandoned_sends", {{"sync_answered_503", static_cast<std::int64_t>(answered)},
                                         {"spooled_kept", static_cast<std::int64_t>(kept)}});
    }
  });
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

void WorkerDispatcher::rememberIdempotencyKey(const std::string& scope, const std::string& id,
                                              const std::string& digest) {
  if (scope.empty()) return;
  idempotent_[scope] = {id, digest};
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
    spool_->forgetAsync(id, [id](foundation::Status s) {
      if (!s) log::warn("spool_forget_failed", {{"id", id}, {"error", s.error().message}});
    });
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
  // A datakey that changed since Transit called it lost (a person put another back)
  // is asked about afresh.
  if (lost_wrapped_ && *wrapped != lost_wrapped_) lost_wrapped_.reset();
  asking_spool_key_ = true;
  // After Transit's "never" for the datakey: a new key (the old generation is set
  // aside when it comes, not before: Transit may be unable to make one yet).
  const std::string asked = lost_wrapped_ ? std::string() : wrapped->value_or(std::string());
  keeper_.requestSpoolKey(asked, [this, asked](std::optional<KeeperLink::SpoolKey> key) {
    asking_spool_key_ = false;
    if (!key) return retrySpoolKey();
    if (!key->lost.empty()) {
      if (asked.empty()) return retrySpoolKey();  // a new key cannot be lost: not now
      // Only Transit's permanent answer comes here (keeper/spool_key_answer.h); a Vault
      // that is away, slow or refuses the token is a NoCredential: the spool waits.
      log::error("spool_key_lost", {{"directory", spool_->directory()}, {"error", key->lost}});
      lost_wrapped_ = asked;
      lost_reason_ = key->lost;
      return askSpoolKey();
    }
    if (!asked.empty() && key->wrapped != asked) {
      log::error("spool_key_mismatch");
      return retrySpoolKey();
    }
    if (asked.empty()) {
      if (lost_wrapped_) {
        if (!startNewGeneration(key->wrapped)) return retrySpoolKey();
      } else if (auto s = spool_->writeWrappedKey(key->wrapped); !s) {
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

bool WorkerDispatcher::startNewGeneration(const std::string& new_wrapped) {
  auto set_aside = spool_->setAside(*lost_wrapped_);
  if (!set_aside) {
    // Nothing is lost: the files not moved yet are where they were, the moved ones in
    // set-aside/, and the old datakey is still in place, so the next try continues.
    log::error("spool_set_aside_failed", {{"error", set_aside.error().message}});
    return false;
  }
  if (auto s = spool_->writeWrappedKey(new_wrapped); !s) {
    log::error("spool_key_write_failed", {{"error", s.error().message}});
    return false;
  }
  log::error("spool_set_aside",
             {{"directory", set_aside->directory},
              {"messages", static_cast<std::int64_t>(set_aside->messages)},
              {"finished", static_cast<std::int64_t>(set_aside->finished)},
              {"reason", lost_reason_},
              {"hint",
               "Transit can no longer decrypt the data key these files are sealed under; "
               "they are kept: restore the Transit key, then send them with a sidecar "
               "pointed at that directory (docs/OPERATIONS.md)"}});
  lost_wrapped_.reset();
  lost_reason_.clear();
  return true;
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
    submit::Origin origin;
    origin.profile = record.profile;
    origin.idempotency_key = record.idempotency_key;
    rememberIdempotencyKey(idempotencyScope(origin), record.id, record.request_digest);
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
    job->origin.request_digest = record.request_digest;
    rememberIdempotencyKey(idempotencyScope(job->origin), record.id, record.request_digest);
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
             {"quarantined", static_cast<std::int64_t>(loaded.quarantined.size())},
             {"set_aside", static_cast<std::int64_t>(spool_->setAsideMessages())}});
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
  r.request_digest = job.origin.request_digest;
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
      .gauge("smtp_sidecar_spool_set_aside_messages",
             "Messages kept in set-aside/ because Transit can no longer decrypt the data key "
             "they were sealed under (restore the key, then send them)")
      .get()
      .set(static_cast<double>(spool_->setAsideMessages()));
  registry
      .counter("smtp_sidecar_spool_quarantined_total",
               "Spool files moved to quarantine/ (truncated, corrupt, tampered, other key)")
      .get()
      .inc(static_cast<double>(spool_->quarantinedTotal()));
  // The group commit: how many writes shared a batch (one data sync per batch).
  const auto commits = spool_->commitStats();
  registry
      .counter("smtp_sidecar_spool_commit_batches_total",
               "Batches the spool wrote, each made durable with one fdatasync round and one "
               "fsync per directory")
      .get()
      .inc(static_cast<double>(commits.batches));
  registry
      .counter("smtp_sidecar_spool_commit_writes_total",
               "Spool writes (accepted messages, rewrites, final statuses, removals) in them")
      .get()
      .inc(static_cast<double>(commits.jobs));
}

// How transactions started (pipelined behind the previous end of data: one round trip
// each; on an idle or a new connection: more), over every sender this worker had.
void WorkerDispatcher::exportSenderStats(metrics::Registry& registry) const {
  relay::SenderStats s = earlier_sender_stats_;
  const relay::SenderStats now = sender_->stats();
  s.pipelined += now.pipelined;
  s.on_idle_connection += now.on_idle_connection;
  s.on_new_connection += now.on_new_connection;
  s.connections_opened += now.connections_opened;
  auto& started = registry.counter(
      "smtp_sidecar_smtp_transactions_started_total",
      "SMTP transactions by how they started: pipelined (behind the previous message's end "
      "of data, one round trip), idle_connection, new_connection.",
      {"start"});
  started.with({"pipelined"}).inc(static_cast<double>(s.pipelined));
  started.with({"idle_connection"}).inc(static_cast<double>(s.on_idle_connection));
  started.with({"new_connection"}).inc(static_cast<double>(s.on_new_connection));
  registry
      .counter("smtp_sidecar_smtp_connections_opened_total",
               "SMTP connections the sender opened (each attempt, whatever its outcome).")
      .get()
      .inc(static_cast<double>(s.connections_opened));
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
    if (ec || (stopping_ && spool_)) return;  // stopping: on disk, the next start sends it
    attempt(job, true);
  });
}

std::size_t WorkerDispatcher::mustDrain() const {
  if (!spool_) return in_flight_;
  // Messages being written (their 202 is due), and attempts the stop did not abandon.
  std::size_t busy = writing_;
  for (const auto& job : sending_) busy += job->abandoned ? 0U : 1U;
  return busy;
}

}  // namespace sidecar::worker
