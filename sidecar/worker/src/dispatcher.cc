// dispatcher.cc: see dispatcher.h.
//
// SECURITY: see dispatcher.h; nothing here parses client input.
// ERRORS: SubmitResult values for every outcome; no exceptions.
#include "sidecar/worker/dispatcher.h"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "foundation/random.h"
#include "sidecar/base/log.h"

namespace sidecar::worker {

void WorkerDispatcher::retire(const std::string& lease_id) {
  sender_->retire(lease_id);
  for (auto& old : old_senders_) old->retire(lease_id);
}

void WorkerDispatcher::reconfigure(const Config& config) {
  old_senders_.push_back(std::move(sender_));
  sender_ = relay::makeCurlMultiSmtpSender(io_, config.smtp, config.smtp.max_connections);
  max_queue_ = config.listen.max_queue;
  retry_for_ = config.smtp.retry_for;
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

std::optional<std::string> WorkerDispatcher::enqueue(submit::Origin origin, submit::Envelope envelope,
                                   std::string message) {
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

std::optional<submit::MessageStatus> WorkerDispatcher::status(const std::string& id) const {
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

void WorkerDispatcher::metrics(std::function<void(std::string)> done) {
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

void WorkerDispatcher::setProfileMetrics(std::function<void(metrics::Registry&)> fn) {
  profile_metrics_ = std::move(fn);
}

void WorkerDispatcher::start(const std::shared_ptr<Job>& job) {
  ++in_flight_;
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
  std::erase_if(old_senders_,
                [](const auto& s) { return s->active() == 0 && s->waiting() == 0; });
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
  r.recipients = job.envelope.recipients.size();
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

void WorkerDispatcher::scheduleRetry(const std::shared_ptr<Job>& job, std::chrono::steady_clock::time_point now) {
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

}  // namespace sidecar::worker
